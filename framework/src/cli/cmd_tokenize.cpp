// qrun tokenize --model DIR [--text FILE|-] [--no-special] [--decode] [--sha256]
// Encodes text with a model folder's tokenizer.json and prints the ids, space separated (or, with
// --decode, reads ids and prints the text).
#include "cli/command.hpp"
#include "tokenizer/ids_hash.hpp"

#include <qrun/tokenizer.hpp>

#include <boost/program_options.hpp>

#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

namespace po = boost::program_options;

namespace qrun::cli {
namespace {

const char* kUsage = "qrun tokenize --model DIR [--text FILE|-] [--no-special] [--decode] [--sha256]";

Result<std::string> read_input(const std::string& source) {
  if (source == "-") {
    return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  std::ifstream in(source, std::ios::binary);
  if (!in) {
    return Error{source, "cannot be opened", "check the --text path (or pass - to read stdin)",
                 std::filesystem::exists(source) ? ErrorCode::io : ErrorCode::not_found};
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

Result<std::vector<std::int64_t>> parse_ids(const std::string& text, std::int64_t vocab_size) {
  std::vector<std::int64_t> ids;
  std::istringstream in(text);
  std::string word;
  while (in >> word) {
    std::size_t used = 0;
    long long id = -1;
    try {  // std::stoll reports bad numbers only by exception
      id = std::stoll(word, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != word.size() || id < 0 || id >= vocab_size) {
      // The word is echoed cut to 40 characters (issue 18: a 370,000-byte error line).
      const std::string shown = word.size() <= 40 ? word : word.substr(0, 37) + "...";
      return Error{"--decode input", "\"" + shown + "\" is not a token id in [0, " + std::to_string(vocab_size) + ")",
                   "give ids as non-negative integers separated by whitespace"};
    }
    ids.push_back(id);
  }
  return ids;
}

int run_tokenize(const std::vector<std::string>& args, const GlobalOptions& /*global*/) {
  po::options_description desc("Options of qrun tokenize");
  desc.add_options()
      ("model", po::value<std::string>()->value_name("DIR"), "Hugging Face model folder holding tokenizer.json")
      ("text", po::value<std::string>()->value_name("FILE|-")->default_value("-"), "input text file, - for stdin")
      ("no-special", "do not add the post-processor's special tokens (e.g. BOS); with --decode: skip special "
                     "tokens in the output")
      ("decode", "read token ids and print the text")
      ("sha256", "print the sha256 of the ids as little-endian int32 instead of the ids")
      ("help,h", "show this help");
  po::variables_map vm;
  if (auto done = parse_options(args, {"qrun tokenize", kUsage, "Tokenizes text with a model's tokenizer", {"model"}}, desc, vm)) return *done;
  auto tokenizer = load_hf_tokenizer(vm["model"].as<std::string>());
  if (!tokenizer) return report_error(tokenizer.error());
  auto input = read_input(vm["text"].as<std::string>());
  if (!input) return report_error(input.error());
  const bool special = vm.count("no-special") == 0;

  if (vm.count("decode")) {
    auto ids = parse_ids(*input, (*tokenizer)->vocab_size());
    if (!ids) return report_error(ids.error());
    std::cout << (*tokenizer)->decode(*ids, !special);
    std::cout.flush();
    return 0;
  }
  const std::vector<std::int64_t> ids = (*tokenizer)->encode(*input, special);
  if (vm.count("sha256")) {
    std::cout << tok::token_ids_sha256(ids) << "  (" << ids.size() << " ids)\n";
    return 0;
  }
  std::string line;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) line += ' ';
    line += std::to_string(ids[i]);
  }
  std::cout << line << "\n";
  return 0;
}

}  // namespace

QRUN_CLI_COMMAND(cmd_tokenize, {"tokenize", "Tokenize text with a model's tokenizer (or decode ids)", kUsage,
                                run_tokenize});

}  // namespace qrun::cli
