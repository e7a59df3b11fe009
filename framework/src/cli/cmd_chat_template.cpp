// qrun chat-template --model DIR --messages CONV.json [--add-generation-prompt] [--ids]
//                    [--kwarg KEY=JSON]...
// Prints what the model sees: the conversation rendered with the model's chat template exactly as
// transformers' apply_chat_template(conv, tokenize=False) returns it (no newline added), or with
// --ids the token ids of apply_chat_template(conv, tokenize=True) (the text encoded without added
// special tokens), on one line. CONV.json is a JSON list of {"role": ..., "content": ...} messages
// (any other keys, e.g. tool_calls, are passed to the template as they are); - reads stdin.
#include "cli/command.hpp"
#include "tokenizer/chat_template.hpp"

#include <qrun/tokenizer.hpp>

#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

namespace po = boost::program_options;

namespace qrun::cli {
namespace {

const char* kUsage =
    "qrun chat-template --model DIR --messages CONV.json [--add-generation-prompt] [--ids] [--kwarg KEY=JSON]...";

Result<nlohmann::ordered_json> read_conversation(const std::string& source) {
  std::string text;
  if (source == "-") {
    text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  } else {
    std::ifstream in(source, std::ios::binary);
    if (!in) return Error::of(ErrorCode::not_found, source, "cannot be opened", "check the --messages path (- reads stdin)");
    std::ostringstream s;
    s << in.rdbuf();
    text = s.str();
  }
  nlohmann::ordered_json conv = nlohmann::ordered_json::parse(text, nullptr, false);
  if (conv.is_discarded()) {
    return Error::of(ErrorCode::corrupt_input, source, "is not valid JSON", "write a JSON list of {\"role\", \"content\"} objects");
  }
  if (!conv.is_array()) {
    return Error{source, "is not a JSON list of messages", "write [{\"role\": \"user\", \"content\": \"Hi\"}, ...]"};
  }
  for (std::size_t i = 0; i < conv.size(); ++i) {
    if (!conv[i].is_object() || !conv[i].contains("role") || !conv[i].contains("content")) {
      return Error{source + " [" + std::to_string(i) + "]", "is not a message with \"role\" and \"content\"",
                   "give every message a role and a content, as transformers requires"};
    }
  }
  return conv;
}

// --kwarg KEY=JSON: a template variable as apply_chat_template(**kwargs) passes it; a value that
// is not JSON is taken as a string (enable_thinking=false, date_string="26 Jul 2024", tools=[...]).
Result<nlohmann::ordered_json> parse_kwargs(const std::vector<std::string>& items) {
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  for (const std::string& item : items) {
    const std::size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Error{"--kwarg " + item, "is not KEY=VALUE", "write e.g. --kwarg enable_thinking=false"};
    }
    nlohmann::ordered_json value = nlohmann::ordered_json::parse(item.substr(eq + 1), nullptr, false);
    out[item.substr(0, eq)] = value.is_discarded() ? nlohmann::ordered_json(item.substr(eq + 1)) : value;
  }
  return out;
}

int run_chat_template(const std::vector<std::string>& args, const GlobalOptions& /*global*/) {
  po::options_description desc("Options of qrun chat-template");
  desc.add_options()
      ("model", po::value<std::string>()->value_name("DIR"), "model folder (tokenizer_config.json, tokenizer.json)")
      ("messages", po::value<std::string>()->value_name("CONV.json"), "JSON list of messages (- for stdin)")
      ("add-generation-prompt", "end with the header of the assistant's next turn")
      ("ids", "print the token ids (space separated, one line) instead of the text")
      ("kwarg", po::value<std::vector<std::string>>()->value_name("KEY=JSON")->composing(),
       "another template variable, e.g. enable_thinking=false (repeatable)")
      ("help,h", "show this help");
  po::variables_map vm;
  if (auto done = parse_options(args, {"qrun chat-template", kUsage, "Prints a conversation as the model's chat template renders it",
                                       {"model", "messages"}}, desc, vm)) {
    return *done;
  }
  const std::string model = vm["model"].as<std::string>();
  auto chat = tok::ChatTemplate::load(model);
  if (!chat) return report_error(chat.error());
  auto conv = read_conversation(vm["messages"].as<std::string>());
  if (!conv) return report_error(conv.error());
  auto kwargs = parse_kwargs(vm.count("kwarg") ? vm["kwarg"].as<std::vector<std::string>>() : std::vector<std::string>{});
  if (!kwargs) return report_error(kwargs.error());
  auto text = chat->render_json(*conv, vm.count("add-generation-prompt") > 0, *kwargs);
  if (!text) return report_error(text.error());
  if (!vm.count("ids")) {
    std::cout << *text;
    std::cout.flush();
    return 0;
  }
  auto tokenizer = load_hf_tokenizer(model);
  if (!tokenizer) return report_error(tokenizer.error());
  const std::vector<std::int64_t> ids = (*tokenizer)->encode(*text, /*add_special_tokens=*/false);
  std::string line;
  for (std::size_t i = 0; i < ids.size(); ++i) line += (i > 0 ? " " : "") + std::to_string(ids[i]);
  std::cout << line << "\n";
  return 0;
}

}  // namespace

QRUN_CLI_COMMAND(cmd_chat_template, {"chat-template", "Print a conversation as the model's chat template renders it",
                                     kUsage, run_chat_template});

}  // namespace qrun::cli
