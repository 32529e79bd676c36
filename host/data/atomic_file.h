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
  void commit();

 private:
  std::string path_, tmp_;
  std::ofstream out_;
  bool committed_ = false;
};

}  // namespace vpmoe::host::data
