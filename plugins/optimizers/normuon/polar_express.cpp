#include "polar_express.h"

#include <fstream>
#include <nlohmann/json.hpp>

#include "normuon_kernels.h"
#include "vpmoe/error.h"
#include "vpmoe/ops.h"

namespace vpmoe::normuon {

const Coeffs& default_coeffs() {
  static const Coeffs table = {
      {8.156554524902461, -22.48329292557795, 15.878769915207462},
      {4.042929935166739, -2.808917465908714, 0.5000178451051316},
      {3.8916678022926607, -2.772484153217685, 0.5060648178503393},
      {3.285753657755655, -2.3681294933425376, 0.46449024233003106},
      {2.3465413258596377, -1.7097828382687081, 0.42323551169305323},
  };
  return table;
}

Coeffs load_coeffs(const std::string& path) {
  std::ifstream in(path);
  if (!in)
    throw Error("polar_express_coeffs_path " + path +
                ": cannot open it (expected a JSON list of [a, b, c] triples)");
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error("polar_express_coeffs_path " + path + ": not JSON (" + e.what() + ")");
  }
  if (!doc.is_array() || doc.empty())
    throw Error("polar_express_coeffs_path " + path +
                ": expected a non-empty list of [a, b, c] triples");
  Coeffs out;
  for (std::size_t i = 0; i < doc.size(); ++i) {
    const nlohmann::json& t = doc[i];
    if (!t.is_array() || t.size() != 3 || !t[0].is_number() || !t[1].is_number() ||
        !t[2].is_number())
      throw Error("polar_express_coeffs_path " + path + ": entry " + std::to_string(i) +
                  " is not a triple of numbers: " + t.dump());
    out.push_back({t[0].get<double>(), t[1].get<double>(), t[2].get<double>()});
  }
  return out;
}

void polar_express(Tensor& x, const Coeffs& coeffs, const Tensor* scale) {
  if (x.ndim() != 3) throw Error("polar_express: expected [B, m, n], got " + x.str());
  if (scale && coeffs.empty()) throw Error("polar_express: a scale needs at least one step");
  const std::int64_t B = x.size(0), m = x.size(1), n = x.size(2);
  const bool tall = m > n;
  const std::int64_t k = tall ? n : m;
  Tensor a = Tensor::empty({B, k, k}, x.dtype(), x.device());
  Tensor a2 = Tensor::empty({B, k, k}, DType::f32, x.device());
  Tensor poly = Tensor::empty({B, k, k}, x.dtype(), x.device());
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  Tensor cur = x;
  const Tensor* s = scale;  // the first step's only
  for (const auto& [ca, cb, cc] : coeffs) {
    ops::gemm(cur, cur, a, /*trans_a=*/tall, /*trans_b=*/!tall);  // X X^T, or X^T X when tall
    ops::gemm(a, a, a2);                                          // A^2, f32 out
    polynomial(a, a2, poly, float(ca), float(cb), float(cc), s);  // a I + b A + c A^2
    if (tall)
      ops::gemm(cur, poly, y);  // X (a I + b A + c A^2)
    else
      ops::gemm(poly, cur, y);  // (a I + b A + c A^2) X
    std::swap(cur, y);
    s = nullptr;
  }
  if (cur.data() != x.data()) x.copy_from(cur);
}

}  // namespace vpmoe::normuon
