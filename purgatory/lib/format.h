// SPDX-License-Identifier: GPL-2.0-only
// A small, type-safe, printf-like writer: print(sink, "text", dec(n), hex(v))
// appends each argument to any Sink with `void put(char)`. Portable: the
// purgatory's console, a fixed buffer for the report and host tests all use it.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace limbo::fmt {

// Unsigned decimal, as many digits as needed.
struct Dec {
  uint64_t value;
};
// Lowercase hexadecimal without prefix; at least `min_digits` digits.
struct Hex {
  uint64_t value;
  int min_digits;
};
// Bytes as lowercase hex pairs, no separators (a digest).
struct HexBytes {
  const uint8_t* bytes;
  size_t count;
};

constexpr Dec dec(uint64_t value) { return Dec{value}; }
constexpr Hex hex(uint64_t value, int min_digits = 1) { return Hex{value, min_digits}; }
constexpr HexBytes hex_bytes(const uint8_t* bytes, size_t count) { return HexBytes{bytes, count}; }

inline constexpr char kHexDigits[] = "0123456789abcdef";

template <class Sink>
void put(Sink& sink, const char* text) {
  for (; *text != '\0'; ++text) sink.put(*text);
}

template <class Sink>
void put(Sink& sink, char c) {
  sink.put(c);
}

template <class Sink>
void put(Sink& sink, Dec d) {
  char digits[20];  // 2^64 - 1 has 20 decimal digits
  int n = 0;
  uint64_t v = d.value;
  do {
    digits[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n > 0) sink.put(digits[--n]);
}

template <class Sink>
void put(Sink& sink, Hex h) {
  int digits = 16;
  while (digits > 1 && (h.value >> (4 * (digits - 1))) == 0) --digits;
  if (digits < h.min_digits) digits = h.min_digits > 16 ? 16 : h.min_digits;
  for (int i = digits - 1; i >= 0; --i) sink.put(kHexDigits[(h.value >> (4 * i)) & 0xf]);
}

template <class Sink>
void put(Sink& sink, HexBytes b) {
  for (size_t i = 0; i < b.count; ++i) {
    sink.put(kHexDigits[b.bytes[i] >> 4]);
    sink.put(kHexDigits[b.bytes[i] & 0xf]);
  }
}

template <class Sink, class... Args>
void print(Sink& sink, const Args&... args) {
  (put(sink, args), ...);
}

// One console line: the arguments, then a newline.
template <class Sink, class... Args>
void println(Sink& sink, const Args&... args) {
  (put(sink, args), ...);
  sink.put('\n');
}

// A sink over a caller's fixed buffer. It never writes past `capacity - 1`
// and always keeps the text NUL-terminated; `overflowed()` says whether
// anything was dropped, so a caller can refuse a truncated result.
class BufferSink {
 public:
  constexpr BufferSink(char* buffer, size_t capacity) : buffer_(buffer), capacity_(capacity) {
    if (capacity_ > 0) buffer_[0] = '\0';
  }

  void put(char c) {
    if (length_ + 1 < capacity_) {
      buffer_[length_++] = c;
      buffer_[length_] = '\0';
    } else {
      overflowed_ = true;
    }
  }

  [[nodiscard]] size_t length() const { return length_; }
  [[nodiscard]] bool overflowed() const { return overflowed_; }
  [[nodiscard]] const char* text() const { return buffer_; }

 private:
  char* buffer_;
  size_t capacity_;
  size_t length_ = 0;
  bool overflowed_ = false;
};

}  // namespace limbo::fmt
