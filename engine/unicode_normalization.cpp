// ICU's Normalizer2, filtered to the characters of Unicode 9.0. ICU 72 has
// Unicode 15 data; the tokenizers library's normalizer (the crate
// unicode-normalization-alignments) has 9.0 data, e.g. it leaves U+0D3B
// (ccc 9, Unicode 10) where it is. Normalization stability makes a filtered
// normalizer equal to one built from 9.0 data: decompositions and combining
// classes of assigned characters never change, and compositions added later
// involve characters assigned later.
#include "engine/unicode_normalization.h"

#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>
#include <unicode/uniset.h>

#include <memory>

#include "engine/error.h"
#include "engine/unicode.h"

namespace lorafarm::engine::unicode {
namespace {

const icu::Normalizer2& base_instance(NormalForm form, UErrorCode& status) {
  switch (form) {
    case NormalForm::kNfc: return *icu::Normalizer2::getNFCInstance(status);
    case NormalForm::kNfd: return *icu::Normalizer2::getNFDInstance(status);
    case NormalForm::kNfkc: return *icu::Normalizer2::getNFKCInstance(status);
    case NormalForm::kNfkd: return *icu::Normalizer2::getNFKDInstance(status);
  }
  return *icu::Normalizer2::getNFCInstance(status);
}

struct Filtered {
  std::unique_ptr<icu::UnicodeSet> assigned;
  std::unique_ptr<icu::FilteredNormalizer2> normalizer;
};

Filtered make_filtered(NormalForm form) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2& base = base_instance(form, status);
  const std::string set = "[:age=" + std::string(kNormalizationVersion) + ":]";
  Filtered f;
  f.assigned = std::make_unique<icu::UnicodeSet>(icu::UnicodeString::fromUTF8(set), status);
  if (U_FAILURE(status)) throw std::runtime_error(std::string("ICU normalizer: ") + u_errorName(status));
  f.assigned->freeze();
  f.normalizer = std::make_unique<icu::FilteredNormalizer2>(base, *f.assigned);
  return f;
}

const icu::Normalizer2& normalizer(NormalForm form) {
  static const Filtered forms[] = {make_filtered(NormalForm::kNfc), make_filtered(NormalForm::kNfd),
                                   make_filtered(NormalForm::kNfkc), make_filtered(NormalForm::kNfkd)};
  return *forms[static_cast<int>(form)].normalizer;
}

void append_normalized(std::string& out, std::string_view valid, const icu::Normalizer2& norm) {
  UErrorCode status = U_ZERO_ERROR;
  icu::StringByteSink<std::string> sink(&out);
  norm.normalizeUTF8(0, icu::StringPiece(valid.data(), static_cast<int32_t>(valid.size())), sink, nullptr, status);
  if (U_FAILURE(status)) throw InvalidInput(std::string("cannot normalize text: ") + u_errorName(status));
}

}  // namespace

std::string normalize(std::string_view text, NormalForm form) {
  const icu::Normalizer2& norm = normalizer(form);
  std::string out;
  out.reserve(text.size());
  if (is_valid_utf8(text)) {
    append_normalized(out, text, norm);
    return out;
  }
  std::size_t run = 0;  // start of the current run of valid UTF-8
  std::size_t pos = 0;
  while (pos < text.size()) {
    const CodePoint c = decode_at(text, pos);
    const bool invalid = c.value == kReplacementChar && !is_valid_utf8(text.substr(pos, c.length));
    if (invalid) {
      append_normalized(out, text.substr(run, pos - run), norm);
      out.append(text.substr(pos, c.length));
      run = pos + c.length;
    }
    pos += c.length;
  }
  append_normalized(out, text.substr(run), norm);
  return out;
}

}  // namespace lorafarm::engine::unicode
