#include "data/atomic_file.h"

#include <unistd.h>

#include <cstdio>

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

void AtomicFile::commit() {
  out_.close();
  if (!out_) throw Error(path_ + ": writing " + tmp_ + " failed");
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0)
    throw Error(path_ + ": cannot rename " + tmp_ + " into place");
  committed_ = true;
}

}  // namespace vpmoe::host::data
