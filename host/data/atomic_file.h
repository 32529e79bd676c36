#pragma once
// A text output written under a temporary name and renamed into place by commit(); dropped
// without commit() (after an error), it leaves nothing behind and the old file untouched.
#include <fstream>
#include <string>

namespace vpmoe::host::data {

class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  std::ofstream& out() { return out_; }
  // Closes and fsyncs the temporary (outputs that go together prepare all before any commit).
  void prepare();
  // prepare() if not yet done, then renames the temporary into place.
  void commit();

 private:
  std::string path_, tmp_;
  std::ofstream out_;
  bool prepared_ = false, committed_ = false;
};

}  // namespace vpmoe::host::data
