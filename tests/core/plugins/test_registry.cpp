// Registry on its own: names, duplicates, attribution, create() errors, merge.
#include <gtest/gtest.h>

#include "test_plugins/trivial_positional.h"
#include "vpmoe/attention.h"
#include "vpmoe/router.h"

namespace vpmoe {
namespace {

using test::add_trivial;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Registry, AddsAndCreatesWithAttribution) {
  Registry reg;
  reg.set_origin("/p/a.so", "a", "1.0.0");
  add_trivial(reg, "positional.zeta");
  add_trivial(reg, "positional.alpha_2");
  EXPECT_TRUE(reg.contains("positional.zeta"));
  EXPECT_FALSE(reg.contains("positional.none"));
  auto es = reg.entries();
  ASSERT_EQ(es.size(), 2u);
  EXPECT_EQ(es[0].name, "positional.alpha_2");  // sorted
  EXPECT_EQ(es[0].kind, "positional");
  EXPECT_EQ(es[0].file, "/p/a.so");
  EXPECT_EQ(es[0].plugin, "a");
  EXPECT_EQ(es[0].version, "1.0.0");
  auto p = reg.create<Positional>("positional.zeta", BuildArgs{});
  ASSERT_TRUE(p);
  EXPECT_EQ(p->spec_name(), "positional.zeta");
}

TEST(Registry, NameMustBeKindDotLowerSnake) {
  Registry reg;
  for (const char* bad : {"zeta", "attention.zeta", "positional.", "positional.Zeta",
                          "positional.a.b", "positional.9a", "positional.a-b", "positionalx"}) {
    auto msg = error_of([&] { add_trivial(reg, bad); });
    EXPECT_NE(msg.find(std::string("'") + bad + "'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("positional.<lower_snake>"), std::string::npos) << msg;
  }
  EXPECT_TRUE(reg.entries().empty());
}

TEST(Registry, DottedKindsArePrefixes) {
  Registry reg;
  reg.add<Router>("moe.router.deepseek_v3",
                  [](const BuildArgs&) -> std::unique_ptr<Router> { return nullptr; });
  EXPECT_EQ(reg.names_of_kind("moe.router"), std::vector<std::string>{"moe.router.deepseek_v3"});
  EXPECT_EQ(reg.entries()[0].kind, "moe.router");
  auto msg = error_of([&] {
    reg.add<Router>("moe.deepseek_v3",
                    [](const BuildArgs&) -> std::unique_ptr<Router> { return nullptr; });
  });
  EXPECT_NE(msg.find("moe.router.<lower_snake>"), std::string::npos) << msg;
}

TEST(Registry, DuplicateNamesBothFiles) {
  Registry reg;
  reg.set_origin("/p/first.so", "first", "1");
  add_trivial(reg, "positional.same");
  reg.set_origin("/p/second.so", "second", "2");
  auto msg = error_of([&] { add_trivial(reg, "positional.same"); });
  EXPECT_NE(msg.find("positional.same"), std::string::npos) << msg;
  EXPECT_NE(msg.find("/p/first.so"), std::string::npos) << msg;
  EXPECT_NE(msg.find("/p/second.so"), std::string::npos) << msg;
  EXPECT_EQ(reg.entries()[0].file, "/p/first.so");
}

TEST(Registry, UnknownNameListsAvailableAndFailures) {
  Registry reg;
  add_trivial(reg, "positional.rope");
  add_trivial(reg, "positional.grape_m");
  reg.note_failure("/p/broken.so", "plugin ABI version 2 does not match the host's 1");
  auto msg = error_of([&] { reg.create<Positional>("positional.grape_a", BuildArgs{}); });
  EXPECT_NE(msg.find("unknown positional 'positional.grape_a'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("positional.grape_m, positional.rope"), std::string::npos) << msg;
  EXPECT_NE(msg.find("/p/broken.so: plugin ABI version 2"), std::string::npos) << msg;

  auto none = error_of([&] { reg.create<Attention>("attention.tpa", BuildArgs{}); });
  EXPECT_NE(none.find("available attention names: (none)"), std::string::npos) << none;
}

TEST(Registry, TypeMismatchIsClear) {
  Registry reg;
  add_trivial(reg, "positional.rope");
  auto msg = error_of([&] { reg.create<Attention>("positional.rope", BuildArgs{}); });
  EXPECT_NE(msg.find("'positional.rope'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("kind 'positional'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'attention' was asked for"), std::string::npos) << msg;
}

TEST(Registry, MergeRefusesDuplicatesButKeepsTheRest) {
  Registry reg;
  reg.set_origin("/p/a.so", "a", "1");
  add_trivial(reg, "positional.one");
  Registry other;
  other.set_origin("/p/b.so", "b", "2");
  add_trivial(other, "positional.one");
  add_trivial(other, "positional.two");
  other.note_failure("/p/c.so", "bad");
  auto msg = error_of([&] { reg.merge(std::move(other)); });
  EXPECT_NE(msg.find("/p/a.so"), std::string::npos) << msg;
  EXPECT_NE(msg.find("/p/b.so"), std::string::npos) << msg;
  auto es = reg.entries();
  ASSERT_EQ(es.size(), 2u);
  EXPECT_EQ(es[0].file, "/p/a.so");
  EXPECT_EQ(es[1].name, "positional.two");
  EXPECT_EQ(es[1].file, "/p/b.so");
  auto unknown = error_of([&] { reg.create<Positional>("positional.three", BuildArgs{}); });
  EXPECT_NE(unknown.find("/p/c.so: bad"), std::string::npos) << unknown;
}

}  // namespace
}  // namespace vpmoe
