// A WordPiece tokenizer that reads the bundle's tokenizer/tokenizer.json (its verified bytes) and gives the ids the Hugging Face
// `tokenizers` library gives (the Python runtime's tokenizer): special tokens matched in the raw text,
// BertNormalizer (clean text, CJK spacing, accent stripping, lowercase), BertPreTokenizer (whitespace and
// punctuation), greedy longest-match WordPiece, then [CLS] ... [SEP]. Other tokenizer types are refused at load
// with a BundleError (pass token ids instead).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace acc {

class WordPieceTokenizer {
public:
    /// Load a tokenizer.json file; BundleError when it is unreadable or uses something this tokenizer does not
    /// implement. A bundle's tokenizer comes through from_json, from the bytes its manifest check verified.
    static WordPieceTokenizer from_file(const std::filesystem::path& tokenizer_json);
    /// Load tokenizer.json's text; where names it in errors (its path). BundleError as from_file.
    static WordPieceTokenizer from_json(std::string_view text, const std::string& where);

    /// Ids of one text with [CLS]/[SEP]. max_length: keep the first max_length - 2 word pieces (as the Hugging Face
    /// tokenizer truncates). DataError when the text is not valid UTF-8.
    std::vector<std::int64_t> encode(std::string_view text, std::optional<std::size_t> max_length = {}) const;

    /// Word pieces of one text, without special tokens (for inspection).
    std::vector<std::string> tokenize(std::string_view text) const;

    std::int64_t pad_id() const { return pad_id_; }
    std::int64_t sep_id() const { return sep_id_; }
    std::int64_t cls_id() const { return cls_id_; }
    /// Vocabulary size including added tokens (ids are valid in [0, vocab_size)).
    std::int64_t vocab_size() const { return vocab_size_; }
    /// Id of a token, or -1.
    std::int64_t token_to_id(const std::string& token) const;

private:
    static WordPieceTokenizer parse(std::string_view text, const std::string& where);
    void encode_segment(const std::u32string& text, std::vector<std::int64_t>& ids,
                        std::vector<std::string>* tokens) const;
    void word_pieces(const std::u32string& word, std::vector<std::int64_t>& ids,
                     std::vector<std::string>* tokens) const;
    std::u32string normalize(const std::u32string& text) const;
    void run(std::string_view text, std::vector<std::int64_t>& ids, std::vector<std::string>* tokens) const;

    std::unordered_map<std::string, std::int64_t> vocab_;
    std::vector<std::pair<std::u32string, std::int64_t>> raw_added_;         // matched in the raw text
    std::vector<std::pair<std::u32string, std::int64_t>> normalized_added_;  // matched after normalization
    std::string unk_token_ = "[UNK]";
    std::int64_t unk_id_ = -1;
    std::string prefix_ = "##";
    std::size_t max_input_chars_per_word_ = 100;
    bool clean_text_ = true;
    bool handle_chinese_chars_ = true;
    bool strip_accents_ = true;
    bool lowercase_ = true;
    std::vector<std::int64_t> prefix_ids_;  // post-processor: before the text ([CLS])
    std::vector<std::int64_t> suffix_ids_;  // after the text ([SEP])
    std::int64_t pad_id_ = 0;
    std::int64_t sep_id_ = -1;
    std::int64_t cls_id_ = -1;
    std::int64_t vocab_size_ = 0;
};

}  // namespace acc
