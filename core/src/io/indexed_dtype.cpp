#include "vpmoe/error.h"
#include "vpmoe/indexed_dataset.h"

namespace vpmoe {

std::size_t element_size(IndexedDType t) {
  switch (t) {
    case IndexedDType::u8:
    case IndexedDType::i8:
      return 1;
    case IndexedDType::i16:
    case IndexedDType::u16:
      return 2;
    case IndexedDType::i32:
    case IndexedDType::f32:
      return 4;
    case IndexedDType::i64:
    case IndexedDType::f64:
      return 8;
  }
  throw Error("indexed dataset: unknown dtype code " + std::to_string(static_cast<int>(t)));
}

const char* dtype_name(IndexedDType t) {
  switch (t) {
    case IndexedDType::u8:
      return "uint8";
    case IndexedDType::i8:
      return "int8";
    case IndexedDType::i16:
      return "int16";
    case IndexedDType::i32:
      return "int32";
    case IndexedDType::i64:
      return "int64";
    case IndexedDType::f64:
      return "float64";
    case IndexedDType::f32:
      return "float32";
    case IndexedDType::u16:
      return "uint16";
  }
  return "unknown";
}

}  // namespace vpmoe
