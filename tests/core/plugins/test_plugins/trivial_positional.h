#pragma once
// A do-nothing Positional that the test plugins register under various names.
#include <memory>
#include <string>

#include "vpmoe/plugin.h"
#include "vpmoe/positional.h"

namespace vpmoe::test {

class TrivialPositional : public Positional {
 public:
  explicit TrivialPositional(std::string name) : name_(std::move(name)) {}
  Type type() const override { return Type::none; }
  std::string spec_name() const override { return name_; }
  std::vector<Parameter*> parameters() override { return {}; }
  double flops_per_token(std::int64_t) const override { return 0.0; }

 private:
  std::string name_;
};

inline void add_trivial(Registry& reg, const std::string& name) {
  reg.add<Positional>(name, [name](const BuildArgs&) -> std::unique_ptr<Positional> {
    return std::make_unique<TrivialPositional>(name);
  });
}

}  // namespace vpmoe::test
