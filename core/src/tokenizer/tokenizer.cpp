#include "vpmoe/tokenizer.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <latch>
#include <thread>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include "vpmoe/error.h"
#include "vpmoe/utf8.h"

namespace vpmoe {

namespace {

// One pool for the life of the process: its threads keep their thread-local tokenizer state
// (the BPE piece cache) warm from one batch to the next.
boost::asio::thread_pool& batch_pool() {
  static boost::asio::thread_pool pool(std::max(1u, std::thread::hardware_concurrency()));
  return pool;
}

}  // namespace

std::vector<std::vector<std::int32_t>> Tokenizer::encode_ordinary_batch(
    std::span<const std::string_view> texts, unsigned threads) const {
  std::vector<std::vector<std::int32_t>> out(texts.size());
  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  threads = std::min({threads == 0 ? hw : threads, hw, static_cast<unsigned>(texts.size())});
  // Workers take texts one at a time from a shared counter, so a few long texts do not leave
  // the others idle; the first error (by text index) is rethrown.
  std::atomic<std::size_t> next{0};
  std::vector<std::exception_ptr> errors(texts.size());
  auto work = [&] {
    for (std::size_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < texts.size();) {
      try {
        out[i] = encode_ordinary(texts[i]);
      } catch (const Error& e) {
        errors[i] = std::make_exception_ptr(Error("text " + std::to_string(i) + ": " + e.what()));
      } catch (...) {
        errors[i] = std::current_exception();
      }
    }
  };
  if (threads <= 1) {
    work();
  } else {
    std::latch done(threads);
    for (unsigned t = 0; t < threads; ++t)
      boost::asio::post(batch_pool(), [&] {
        work();
        done.count_down();
      });
    done.wait();
  }
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
  return out;
}

std::string Tokenizer::decode_text(std::span<const std::int32_t> ids, bool lossy) const {
  std::string bytes = decode_bytes(ids);
  if (lossy) return utf8_lossy(bytes);
  utf8_require(bytes, "decoded text");
  return bytes;
}

RenderedConversation Tokenizer::render_conversation(std::string_view, const RenderOptions&) const {
  throw Error(identity().name +
              " does not render conversations (a chat tokenizer such as "
              "tokenizer.o200k_harmony does)");
}

}  // namespace vpmoe
