// The Hugging Face BERT tokenizer pipeline, step for step as `tokenizers` runs it: added tokens are split out of the
// raw text first (leftmost-longest), the rest is normalized (BertNormalizer), split into words (BertPreTokenizer),
// each word into WordPiece pieces (greedy longest match, "##" continuation, [UNK] for a word that does not
// decompose or is longer than max_input_chars_per_word), and the post-processor adds [CLS] / [SEP].
#include "acc/tokenizer.hpp"

#include <set>

#include "acc/errors.hpp"
#include "format.hpp"
#include "json_util.hpp"
#include "unicode.hpp"

namespace acc {
namespace {

using Json = nlohmann::json;  // sorted keys: tokenizer.json holds ~30k vocabulary entries

std::string text_of(const Json& value) {
    return value.is_string() ? value.get<std::string>() : value.dump();
}

constexpr const char* kResave = "the bundle needs a fast tokenizer saved with save_pretrained, re-export the bundle";
constexpr const char* kRetokenize = "the C++ tokenizer reads BERT WordPiece tokenizers only; pass token ids instead";

std::string type_of(const Json& config, const std::string& key) {
    const auto found = config.find(key);
    if (found == config.end() || found->is_null()) return "";
    return found->is_object() && found->contains("type") ? text_of((*found)["type"]) : "?";
}

using Added = std::vector<std::pair<std::u32string, std::int64_t>>;

/// Split text at the added tokens (leftmost-longest): (segment, -1) for plain text, (token, id) for a match.
Added split_added(const std::u32string& text, const Added& tokens) {
    Added out;
    std::size_t plain_start = 0;
    for (std::size_t i = 0; i < text.size();) {
        std::size_t best_length = 0;
        std::int64_t best_id = -1;
        for (const auto& [content, id] : tokens) {
            if (content.size() > best_length && text.compare(i, content.size(), content) == 0) {
                best_length = content.size();
                best_id = id;
            }
        }
        if (best_length == 0) {
            ++i;
            continue;
        }
        if (i > plain_start) out.push_back({text.substr(plain_start, i - plain_start), -1});
        out.push_back({text.substr(i, best_length), best_id});
        i += best_length;
        plain_start = i;
    }
    if (plain_start < text.size()) out.push_back({text.substr(plain_start), -1});
    return out;
}

}  // namespace

WordPieceTokenizer WordPieceTokenizer::from_file(const std::filesystem::path& tokenizer_json) {
    if (!std::filesystem::is_regular_file(tokenizer_json)) {
        throw BundleError("cannot load tokenizer " + tokenizer_json.string() + " (no such file); " + kResave);
    }
    return from_json(detail::read_file(tokenizer_json, kResave), tokenizer_json.string());
}

WordPieceTokenizer WordPieceTokenizer::from_json(std::string_view text, const std::string& where) {
    try {
        return parse(text, where);
    } catch (const nlohmann::json::exception& error) {  // a key of the wrong type, a missing id, ...
        throw BundleError("cannot load tokenizer " + where + " (" + error.what() + "); " + kResave);
    }
}

WordPieceTokenizer WordPieceTokenizer::parse(std::string_view text, const std::string& where) {
    Json config;
    try {
        config = Json::parse(text);
    } catch (const nlohmann::json::parse_error& error) {
        throw BundleError(where + " is not valid JSON (" + error.what() + "); " + kResave);
    }
    if (!config.is_object() || !config.contains("model") || !config["model"].is_object()) {
        throw BundleError("cannot load tokenizer " + where + " (no model section); " + kResave);
    }
    auto unsupported = [&](const std::string& what) {
        return BundleError("tokenizer " + where + " uses " + what + "; " + kRetokenize);
    };
    WordPieceTokenizer t;
    const Json& model = config["model"];
    if (type_of(config, "model") != "WordPiece") throw unsupported("model " + type_of(config, "model"));
    if (!model.contains("vocab") || !model["vocab"].is_object()) throw unsupported("a WordPiece model without vocab");
    for (const auto& [token, id] : model["vocab"].items()) t.vocab_[token] = id.get<std::int64_t>();
    if (model.contains("unk_token")) t.unk_token_ = model["unk_token"].get<std::string>();
    if (model.contains("continuing_subword_prefix")) t.prefix_ = model["continuing_subword_prefix"].get<std::string>();
    if (model.contains("max_input_chars_per_word")) {
        t.max_input_chars_per_word_ = model["max_input_chars_per_word"].get<std::size_t>();
    }
    const auto unk = t.vocab_.find(t.unk_token_);
    if (unk == t.vocab_.end()) throw unsupported("unk_token " + t.unk_token_ + " that is not in its vocab");
    t.unk_id_ = unk->second;

    const std::string normalizer = type_of(config, "normalizer");
    if (normalizer == "BertNormalizer") {
        const Json& n = config["normalizer"];
        auto flag = [&](const char* key, bool fallback) {
            return n.contains(key) && !n[key].is_null() ? n[key].get<bool>() : fallback;
        };
        t.clean_text_ = flag("clean_text", true);
        t.handle_chinese_chars_ = flag("handle_chinese_chars", true);
        t.lowercase_ = flag("lowercase", true);
        t.strip_accents_ = flag("strip_accents", t.lowercase_);  // None: follow lowercase, as tokenizers does
    } else if (normalizer.empty()) {
        t.clean_text_ = t.handle_chinese_chars_ = t.strip_accents_ = t.lowercase_ = false;
    } else {
        throw unsupported("normalizer " + normalizer);
    }
    const std::string pre = type_of(config, "pre_tokenizer");
    if (pre != "BertPreTokenizer") throw unsupported("pre_tokenizer " + (pre.empty() ? "none" : pre));

    std::set<std::string> names;
    for (const auto& [token, id] : t.vocab_) names.insert(token);
    std::vector<std::pair<std::u32string, std::int64_t>> raw, normalized;
    for (const Json& added : config.value("added_tokens", Json::array())) {
        const std::string content = added.at("content").get<std::string>();
        for (const char* option : {"single_word", "lstrip", "rstrip"}) {
            if (added.value(option, false)) throw unsupported("added token " + content + " with " + option + "=true");
        }
        const std::int64_t id = added.at("id").get<std::int64_t>();
        t.vocab_.emplace(content, id);
        names.insert(content);
        auto decoded = detail::decode_utf8(content);
        if (!decoded || decoded->empty()) throw unsupported("an added token that is empty or not UTF-8");
        (added.value("normalized", true) ? normalized : raw).push_back({*decoded, id});
    }
    t.vocab_size_ = static_cast<std::int64_t>(names.size());
    t.raw_added_ = std::move(raw);
    for (const auto& [content, id] : normalized) t.normalized_added_.push_back({t.normalize(content), id});

    const std::string post = type_of(config, "post_processor");
    if (post == "TemplateProcessing") {
        const Json& p = config["post_processor"];
        bool seen_sequence = false;
        for (const Json& item : p.at("single")) {
            if (item.contains("Sequence")) {
                seen_sequence = true;
                continue;
            }
            const std::string name = item.at("SpecialToken").at("id").get<std::string>();
            for (const Json& id : p.at("special_tokens").at(name).at("ids")) {
                (seen_sequence ? t.suffix_ids_ : t.prefix_ids_).push_back(id.get<std::int64_t>());
            }
        }
    } else if (post == "BertProcessing") {
        const Json& p = config["post_processor"];
        t.prefix_ids_.push_back(p.at("cls").at(1).get<std::int64_t>());
        t.suffix_ids_.push_back(p.at("sep").at(1).get<std::int64_t>());
    } else if (!post.empty()) {
        throw unsupported("post_processor " + post);
    }
    const auto padding = config.find("padding");
    if (padding != config.end() && padding->is_object() && padding->contains("pad_id") &&
        (*padding)["pad_id"].is_number_integer()) {
        t.pad_id_ = (*padding)["pad_id"].get<std::int64_t>();
    } else {
        t.pad_id_ = std::max<std::int64_t>(t.token_to_id("[PAD]"), 0);
    }
    t.sep_id_ = t.token_to_id("[SEP]");
    t.cls_id_ = t.token_to_id("[CLS]");
    return t;
}

std::int64_t WordPieceTokenizer::token_to_id(const std::string& token) const {
    const auto found = vocab_.find(token);
    return found == vocab_.end() ? -1 : found->second;
}

std::u32string WordPieceTokenizer::normalize(const std::u32string& text) const {
    std::u32string out, stripped;
    out.reserve(text.size());
    auto finish = [&](char32_t c) {  // strip_accents, then lowercase
        if (strip_accents_) {
            stripped.clear();
            detail::append_stripped(c, stripped);
            for (char32_t s : stripped) lowercase_ ? detail::append_lowered(s, out) : void(out += s);
        } else if (lowercase_) {
            detail::append_lowered(c, out);
        } else {
            out += c;
        }
    };
    for (char32_t c : text) {
        const std::uint8_t flags = detail::char_flags(c);
        if (clean_text_) {
            if (flags & detail::kCleanRemove) continue;
            if (flags & detail::kCleanSpace) c = U' ';
        }
        if (handle_chinese_chars_ && (flags & detail::kCjk)) {
            out += U' ';
            finish(c);
            out += U' ';
        } else {
            finish(c);
        }
    }
    return out;
}

void WordPieceTokenizer::word_pieces(const std::u32string& word, std::vector<std::int64_t>& ids,
                                     std::vector<std::string>* tokens) const {
    if (word.size() > max_input_chars_per_word_) {
        ids.push_back(unk_id_);
        if (tokens) tokens->push_back(unk_token_);
        return;
    }
    std::vector<std::size_t> offsets;  // byte offset of each code point in utf8, plus the end
    std::string utf8;
    for (char32_t c : word) {
        offsets.push_back(utf8.size());
        utf8 += detail::encode_utf8(std::u32string_view(&c, 1));
    }
    offsets.push_back(utf8.size());
    const std::size_t first_id = ids.size();
    const std::size_t first_token = tokens ? tokens->size() : 0;
    for (std::size_t start = 0; start < word.size();) {
        std::size_t end = word.size();
        std::int64_t found = -1;
        std::string piece;
        for (; start < end; --end) {
            piece = (start > 0 ? prefix_ : "") + utf8.substr(offsets[start], offsets[end] - offsets[start]);
            const auto hit = vocab_.find(piece);
            if (hit != vocab_.end()) {
                found = hit->second;
                break;
            }
        }
        if (found < 0) {  // the word does not decompose: one [UNK] for all of it
            ids.resize(first_id);
            ids.push_back(unk_id_);
            if (tokens) {
                tokens->resize(first_token);
                tokens->push_back(unk_token_);
            }
            return;
        }
        ids.push_back(found);
        if (tokens) tokens->push_back(piece);
        start = end;
    }
}

void WordPieceTokenizer::encode_segment(const std::u32string& text, std::vector<std::int64_t>& ids,
                                        std::vector<std::string>* tokens) const {
    std::u32string word;
    auto flush = [&] {
        if (!word.empty()) word_pieces(word, ids, tokens);
        word.clear();
    };
    for (char32_t c : text) {
        const std::uint8_t flags = detail::char_flags(c);
        if (flags & detail::kSplitSpace) {
            flush();
        } else if (flags & detail::kSplitPunct) {
            flush();
            word = c;
            flush();
        } else {
            word += c;
        }
    }
    flush();
}

void WordPieceTokenizer::run(std::string_view text, std::vector<std::int64_t>& ids,
                             std::vector<std::string>* tokens) const {
    std::size_t bad = 0;
    const auto decoded = detail::decode_utf8(text, &bad);
    if (!decoded) {
        throw DataError("text is not valid UTF-8 (byte " + std::to_string(bad) + "); pass UTF-8 encoded text");
    }
    for (const auto& [segment, id] : split_added(*decoded, raw_added_)) {
        if (id >= 0) {
            ids.push_back(id);
            if (tokens) tokens->push_back(detail::encode_utf8(segment));
            continue;
        }
        for (const auto& [piece, piece_id] : split_added(normalize(segment), normalized_added_)) {
            if (piece_id >= 0) {
                ids.push_back(piece_id);
                if (tokens) tokens->push_back(detail::encode_utf8(piece));
            } else {
                encode_segment(piece, ids, tokens);
            }
        }
    }
}

std::vector<std::string> WordPieceTokenizer::tokenize(std::string_view text) const {
    std::vector<std::int64_t> ids;
    std::vector<std::string> tokens;
    run(text, ids, &tokens);
    return tokens;
}

std::vector<std::int64_t> WordPieceTokenizer::encode(std::string_view text, std::optional<std::size_t> max_length) const {
    std::vector<std::int64_t> content;
    run(text, content, nullptr);
    const std::size_t added = prefix_ids_.size() + suffix_ids_.size();
    if (max_length) {
        if (*max_length < added) {
            throw DataError("max_length " + std::to_string(*max_length) + " leaves no room for the " +
                            std::to_string(added) + " special tokens; pass max_length >= " + std::to_string(added));
        }
        if (content.size() > *max_length - added) content.resize(*max_length - added);
    }
    std::vector<std::int64_t> ids(prefix_ids_);
    ids.insert(ids.end(), content.begin(), content.end());
    ids.insert(ids.end(), suffix_ids_.begin(), suffix_ids_.end());
    return ids;
}

}  // namespace acc
