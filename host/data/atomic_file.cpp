#include "data/atomic_file.h"

#include <unistd.h>

#include <cstdio>

#include "io/durable.h"
#include "vpmoe/error.h"

namespace vpmoe::host::data {

AtomicFile::AtomicFile(std::string path)
    : path_(std::move(path)), tmp_(path_ + ".tmp-" + std::to_string(::getpid())) {
  out_.open(tmp_, std::ios::binary | std::ios::trunc);
  if (!out_) throw Error(path_ + ": cannot create " + tmp_);
}

AtomicFile::~AtomicFile() {
  if (!committed_) {
    out_.close();
    std::remove(tmp_.c_str());
  }
}

void AtomicFile::prepare() {
  if (prepared_) return;
  out_.close();
  if (!out_) throw Error(path_ + ": writing " + tmp_ + " failed");
  io::sync_path(tmp_);
  prepared_ = true;
}

void AtomicFile::commit() {
  if (committed_) return;
  prepare();
  io::rename_durably(tmp_, path_);
  committed_ = true;
}

}  // namespace vpmoe::host::data
