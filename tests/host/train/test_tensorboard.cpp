// TensorBoard event files: the masked CRC32C of the TFRecord framing, a run's scalars written by
// MetricsLog and read back record by record (both CRCs checked, each Event parsed), and a
// damaged file refused naming it and the record.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "train/metrics.h"
#include "vpmoe/error.h"
#if VPMOE_HAS_TENSORBOARD
#include "tensorboard/event.pb.h"
#include "tensorboard/event_writer.h"
#endif

namespace vpmoe::testing {
namespace {

#if VPMOE_HAS_TENSORBOARD
namespace tb = host::tensorboard;

std::string temp_dir(const std::string& name) {
  const auto d = std::filesystem::temp_directory_path() /
                 ("vpmoe_tb_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(d);
  return d.string();
}

TEST(TensorBoard, MaskedCrc32cOfTheCheckString) {
  // CRC-32C("123456789") is 0xE3069283 (the catalogue's check value); TFRecord masks it.
  const std::uint32_t c = 0xE3069283u;
  EXPECT_EQ(tb::masked_crc32c("123456789", 9), ((c >> 15) | (c << 17)) + 0xa282ead8u);
}

TEST(TensorBoard, MetricsScalarsReadBack) {
  const std::string dir = temp_dir("scalars");
  std::string file;
  {
    host::train::MetricsLog log(dir, false, false, 1, 2, false, false);
    log.enable_tensorboard(dir + "/tensorboard");
    for (std::int64_t s = 1; s <= 2; ++s) {
      host::train::StepRecord r;
      r.step = s;
      r.m.loss = 3.5 / double(s);
      r.m.lr = 1e-3 * double(s);
      r.m.grad_norm = 0.25;
      r.m.tokens = 64;
      r.step_s = 0.5;
      r.mfu = 0.125;
      log.step(r);
    }
    log.validation(2, 1.5);
    for (const auto& e : std::filesystem::directory_iterator(dir + "/tensorboard"))
      file = e.path().string();
  }
  ASSERT_NE(file.find("events.out.tfevents."), std::string::npos) << file;
  const std::vector<std::string> recs = tb::read_records(file);
  ASSERT_EQ(recs.size(), 4u);
  tb::Event e;
  ASSERT_TRUE(e.ParseFromString(recs[0]));
  EXPECT_EQ(e.file_version(), "brain.Event:2");
  auto scalar = [&](const std::string& rec, const std::string& tag, std::int64_t* step) {
    tb::Event ev;
    EXPECT_TRUE(ev.ParseFromString(rec));
    *step = ev.step();
    EXPECT_GT(ev.wall_time(), 1e9);
    for (const auto& v : ev.summary().value())
      if (v.tag() == tag) {
        // Set even when 0: TensorBoard's reader drops a value without one.
        EXPECT_TRUE(v.has_simple_value()) << tag;
        return double(v.simple_value());
      }
    ADD_FAILURE() << "no " << tag;
    return 0.0;
  };
  std::int64_t step = 0;
  EXPECT_FLOAT_EQ(scalar(recs[1], "train/loss", &step), 3.5f);
  EXPECT_EQ(step, 1);
  EXPECT_FLOAT_EQ(scalar(recs[2], "train/loss", &step), 1.75f);
  EXPECT_FLOAT_EQ(scalar(recs[2], "train/lr", &step), 2e-3f);
  EXPECT_FLOAT_EQ(scalar(recs[2], "perf/mfu", &step), 0.125f);
  EXPECT_FLOAT_EQ(scalar(recs[2], "perf/tokens_per_s", &step), 128.f);
  EXPECT_EQ(scalar(recs[2], "train/skipped_total", &step), 0.0);
  EXPECT_EQ(step, 2);
  EXPECT_FLOAT_EQ(scalar(recs[3], "validation/loss", &step), 1.5f);
  EXPECT_EQ(step, 2);

  // One flipped byte in the second record's data: refused, naming the file and the offset.
  {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    const std::streamoff at = std::streamoff(12 + recs[0].size() + 4 + 12 + 3);
    f.seekg(at);
    char ch = 0;
    f.get(ch);
    f.seekp(at);
    f.put(char(ch ^ 0x40));
  }
  try {
    tb::read_records(file);
    FAIL() << "expected a CRC error";
  } catch (const Error& err) {
    const std::string m = err.what();
    EXPECT_NE(m.find(file), std::string::npos) << m;
    EXPECT_NE(m.find("data CRC mismatch"), std::string::npos) << m;
    EXPECT_NE(m.find("at byte " + std::to_string(12 + recs[0].size() + 4)), std::string::npos) << m;
  }
  std::filesystem::remove_all(dir);
}
#else
TEST(TensorBoard, ABuildWithoutProtobufRefusesTheKey) {
  host::train::MetricsLog log("", false, false, 1, 1, false, false);
  EXPECT_THROW(log.enable_tensorboard("/tmp/unused"), Error);
}
#endif

}  // namespace
}  // namespace vpmoe::testing
