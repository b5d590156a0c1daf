// `iommuprof __generate man|bash-completion`: hidden. Writes the man page
// (roff) or the bash completion script from the command-line definition
// itself, the CLI11 App every cmd_*.cpp registers into, so that --help, the man
// page and the completion cannot drift apart. The build runs it
// (CMakeLists.txt); it is not listed by --help and never suggested for a
// mistyped command (main.cpp skips subcommands without a group).
//
// What an option's value is, for completion, comes from its type name
// (CLI::Option::type_name, shown by --help too): FILE and PATH complete file
// names, DIR directories, POINT probe points from the catalog (comma lists),
// COMMAND a command line (run's benchmark). Other type names complete nothing.
// Options without such a type name whose long name ends in "file" or is
// --output or --config complete file names as well.
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <memory>
#include <regex>
#include <sstream>

#include <fmt/core.h>

#include "common.hpp"
#include "iommuprof/catalog.hpp"
#include "iommuprof/cli.hpp"
#include "iommuprof/error.hpp"
#include "iommuprof/output_file.hpp"
#include "iommuprof/profile.hpp"

namespace iommuprof::cli {
namespace {

enum class Kind { None, File, Dir, Point, Command };

struct Opt {
    std::vector<std::string> names;  // "-d", "--duration"; a positional: its name
    std::string value;               // placeholder ("FLOAT", "FILE"); "" for a flag
    std::string constraint;          // the validators' descriptions ("NUMBER in [0.1, 1e+07]")
    std::string description, default_str;
    std::vector<std::string> needs, excludes;
    bool required = false, positional = false, repeat = false;
    char delimiter = 0;
    Kind kind = Kind::None;
};

struct Cmd {
    std::string name, description, footer;
    bool positionals_at_end = false;
    std::vector<Opt> opts;  // options first, then positionals, each in the order of definition
};

bool hidden(const CLI::App *a) { return a->get_group().empty(); }

std::string first_name(const CLI::Option *o)
{
    if (!o->get_lnames().empty())
        return "--" + o->get_lnames()[0];
    if (!o->get_snames().empty())
        return "-" + o->get_snames()[0];
    return o->get_name();
}

Kind kind_of(const std::string &type, const std::vector<std::string> &lnames, bool takes_value)
{
    if (!takes_value)
        return Kind::None;
    if (type == "FILE" || type == "PATH")
        return Kind::File;
    if (type == "DIR")
        return Kind::Dir;
    if (type == "POINT")
        return Kind::Point;
    if (type == "COMMAND")
        return Kind::Command;
    for (const auto &l : lnames) {
        std::string n = "--" + l;
        if (n == "--output" || n == "--config" || (n.size() >= 4 && n.compare(n.size() - 4, 4, "file") == 0))
            return Kind::File;
    }
    return Kind::None;
}

Opt describe(const CLI::Option *o)
{
    Opt r;
    for (const auto &s : o->get_snames())
        r.names.push_back("-" + s);
    for (const auto &l : o->get_lnames())
        r.names.push_back("--" + l);
    r.positional = o->get_positional() && !o->nonpositional();
    if (r.names.empty())
        r.names.push_back(o->get_name());
    std::string type = o->get_type_name();
    // As --help shows it: a flag has no type name (and may take no value).
    bool takes_value = o->get_type_size() != 0 && !type.empty();
    size_t colon = type.find(':');
    if (colon != std::string::npos) {
        r.constraint = type.substr(colon + 1);
        type = type.substr(0, colon);
        for (size_t p; (p = r.constraint.find(':')) != std::string::npos;)
            r.constraint.replace(p, 1, "; ");
    }
    if (takes_value)
        r.value = r.positional ? o->get_name() : type;
    r.kind = kind_of(type, o->get_lnames(), takes_value);
    r.description = o->get_description();
    r.default_str = o->get_default_str();
    for (const auto *n : o->get_needs())
        r.needs.push_back(first_name(n));
    for (const auto *x : o->get_excludes())
        r.excludes.push_back(first_name(x));
    r.required = o->get_required();
    r.repeat = takes_value && o->get_expected_max() == CLI::detail::expected_max_vector_size;
    r.delimiter = o->get_delimiter();
    return r;
}

std::vector<Opt> describe_options(const CLI::App *app)
{
    std::vector<Opt> opts, pos;
    for (const auto *o : app->get_options()) {
        if (o->get_group().empty())  // hidden, as in --help
            continue;
        Opt d = describe(o);
        (d.positional ? pos : opts).push_back(std::move(d));
    }
    opts.insert(opts.end(), pos.begin(), pos.end());
    return opts;
}

std::vector<Cmd> describe_commands(CLI::App &root)
{
    std::vector<Cmd> cmds;
    for (const auto *sub : root.get_subcommands([](CLI::App *s) { return !hidden(s); })) {
        Cmd c;
        c.name = sub->get_name();
        c.description = sub->get_description();
        c.footer = sub->get_footer();
        c.positionals_at_end = sub->get_positionals_at_end();
        c.opts = describe_options(sub);
        cmds.push_back(std::move(c));
    }
    return cmds;
}

// ---- man page -------------------------------------------------------------

// One line of text as roff: backslashes and hyphens escaped (options stay
// copyable), non-ASCII as \[uXXXX], control characters dropped, and never a
// leading . or ' (a request) or space (a break).
std::string roff_line(const std::string &s)
{
    std::string out;
    for (size_t i = 0; i < s.size(); i++) {
        unsigned char c = s[i];
        if (out.empty() && c == ' ')
            continue;
        if (out.empty() && (c == '.' || c == '\''))
            out += "\\&";
        if (c == '\\') {
            out += "\\e";
        } else if (c == '-') {
            out += "\\-";
        } else if (c >= 0x80) {
            // One UTF-8 sequence; anything invalid is shown as U+FFFD.
            int len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
            uint32_t cp = len == 4 ? c & 0x07 : len == 3 ? c & 0x0f : c & 0x1f;
            bool ok = len > 0 && i + len <= s.size();
            for (int k = 1; ok && k < len; k++) {
                unsigned char cc = s[i + k];
                ok = (cc & 0xc0) == 0x80;
                cp = cp << 6 | (cc & 0x3f);
            }
            if (!ok) {
                cp = 0xfffd;
                len = 1;
            }
            out += fmt::format("\\[u{:04X}]", cp);
            i += len - 1;
        } else if ((c >= 0x20 && c != 0x7f) || c == '\t') {
            out += char(c);
        }
    }
    return out;
}

// Text as roff; its line breaks stay line breaks (.br).
std::string roff(const std::string &s)
{
    std::string out;
    size_t p = 0;
    for (size_t q; (q = s.find('\n', p)) != std::string::npos; p = q + 1)
        out += roff_line(s.substr(p, q - p)) + "\n.br\n";
    return out + roff_line(s.substr(p));
}

std::string bold(const std::string &s) { return "\\fB" + roff(s) + "\\fR"; }
std::string ital(const std::string &s) { return "\\fI" + roff(s) + "\\fR"; }

std::string option_head(const Opt &o)
{
    std::string h;
    if (o.positional) {
        h = ital(o.value);
    } else {
        for (const auto &n : o.names)  // \% : never hyphenated
            h += std::string(h.empty() ? "" : ", ") + "\\%" + bold(n);
        if (!o.value.empty())
            h += " " + ital(o.value);
    }
    if (o.repeat)
        h += " ...";
    return h;
}

std::string sentence(std::string s)
{
    while (!s.empty() && s.back() == ' ')
        s.pop_back();
    if (!s.empty() && s.back() != '.' && s.back() != '?' && s.back() != '!')
        s += '.';
    return s;
}

std::string option_body(const Opt &o)
{
    std::string b = sentence(o.description);
    if (!o.constraint.empty())
        b += " Value: " + o.constraint + ".";
    if (!o.default_str.empty())
        b += " Default: " + o.default_str + ".";
    if (o.required && !o.positional)
        b += " Required.";
    if (o.repeat && !o.positional)
        b += o.delimiter ? fmt::format(" May be repeated; values may also be separated by '{}'.", o.delimiter)
                         : std::string(" May be repeated.");
    auto list = [](const std::vector<std::string> &v) {
        std::string s;
        for (const auto &x : v)
            s += (s.empty() ? "" : ", ") + x;
        return s;
    };
    if (!o.needs.empty())
        b += " Needs " + list(o.needs) + ".";
    if (!o.excludes.empty())
        b += " Cannot be combined with " + list(o.excludes) + ".";
    return roff(b);
}

std::string usage(const std::string &prog, const Cmd &c)
{
    std::string u = bold(prog + " " + c.name);
    for (const auto &o : c.opts)
        if (o.required && !o.positional)
            u += " " + bold(o.names.front()) + " " + ital(o.value);
    u += " [" + ital("options") + "]";
    for (const auto &o : c.opts) {
        if (!o.positional)
            continue;
        std::string p = ital(o.value) + (o.repeat ? " ..." : "");
        if (o.kind == Kind::Command)
            p = "[" + bold("--") + "] " + p;
        u += " " + (o.required ? p : "[" + p + "]");
    }
    return u;
}

std::string man_commands(const std::string &prog, const std::vector<Cmd> &cmds)
{
    std::string out;
    for (const auto &c : cmds) {
        out += ".SS " + c.name + "\n";
        out += usage(prog, c) + "\n.PP\n" + roff(sentence(c.description)) + "\n";
        if (!c.footer.empty())
            out += ".PP\n" + roff(c.footer) + "\n";
        for (const auto &o : c.opts)
            out += ".TP\n" + option_head(o) + "\n" + option_body(o) + "\n";
    }
    return out;
}

std::string man_synopsis(const std::string &prog, const std::vector<Cmd> &cmds, const std::vector<Opt> &global)
{
    std::string out = bold(prog);
    for (const auto &o : global)
        out += " [" + bold(o.names.back()) + "]";
    out += "\n.br\n";
    for (const auto &c : cmds)
        out += usage(prog, c) + "\n.br\n";
    return out;
}

std::string man_global_options(const std::vector<Opt> &global)
{
    std::string out;
    for (const auto &o : global)
        out += ".TP\n" + option_head(o) + "\n" + option_body(o) + "\n";
    return out;
}

std::string man_date()
{
    // Reproducible: the date only when the build gives one.
    const char *e = getenv("SOURCE_DATE_EPOCH");
    if (!e || !*e)
        return "";
    char *end = nullptr;
    long long t = strtoll(e, &end, 10);
    if (*end || t < 0)
        throw Error(kExitUsage, fmt::format("SOURCE_DATE_EPOCH '{}' is not a number of seconds", e));
    time_t tt = time_t(t);
    struct tm tm {};
    gmtime_r(&tt, &tm);
    char buf[32];
    strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
    return buf;
}

std::string read_template(const std::string &path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw Error(kExitUsage, path + ": cannot read the man page template");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// The template is roff with whole-line markers @NAME@, @SYNOPSIS@,
// @GLOBAL_OPTIONS@ and @COMMANDS@, and @VERSION@ / @DATE@ anywhere; its
// comments (lines starting with .\") are left out.
std::string man_page_from_cli(CLI::App &root, const std::string &template_path)
{
    std::string tpl = read_template(template_path);
    std::vector<Cmd> cmds = describe_commands(root);
    std::vector<Opt> global = describe_options(&root);
    const std::string prog = "iommuprof";  // not argv[0]: the build runs it by its path
    std::string summary = root.get_description();
    if (summary.rfind(prog + ": ", 0) == 0)
        summary = summary.substr(prog.size() + 2);

    std::string out = ".\\\" Generated by `iommuprof __generate man` from " + template_path.substr(template_path.rfind('/') + 1) +
                      "\n.\\\" and the command-line definition (user/cli/cmd_*.cpp): do not edit.\n";
    std::istringstream lines(tpl);
    std::string line;
    for (int n = 1; std::getline(lines, line); n++) {
        if (line == "@NAME@") {
            out += roff(prog) + " \\- " + roff(summary) + "\n";
        } else if (line == "@SYNOPSIS@") {
            out += man_synopsis(prog, cmds, global);
        } else if (line == "@GLOBAL_OPTIONS@") {
            out += man_global_options(global);
        } else if (line == "@COMMANDS@") {
            out += man_commands(prog, cmds);
        } else if (line.rfind(".\\\"", 0) == 0) {
            continue;  // the template's comments are about the template
        } else {
            for (const auto &[mark, value] : {std::pair<std::string, std::string>{"@VERSION@", tool_version()},
                                              {"@DATE@", man_date()}})
                for (size_t p; (p = line.find(mark)) != std::string::npos;)
                    line.replace(p, mark.size(), value);
            if (std::smatch m; std::regex_search(line, m, std::regex("@[A-Z_]+@")))
                throw Error(kExitUsage, fmt::format("{}:{}: unknown marker {}", template_path, n, m.str()));
            out += line + "\n";
        }
    }
    for (const char *m : {"@NAME@", "@SYNOPSIS@", "@COMMANDS@"})
        if (tpl.find(std::string("\n") + m + "\n") == std::string::npos)
            throw Error(kExitUsage, fmt::format("{}: the template has no line {}", template_path, m));
    return out;
}

// ---- bash completion ------------------------------------------------------

// Words go into single-quoted shell strings and case patterns: only plain
// option and point names can.
const std::string &shell_word(const std::string &w)
{
    for (unsigned char c : w)
        if (!(std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == ':' || c == '+'))
            throw Error(kExitRuntime, "cannot put '" + w + "' into the completion script");
    return w;
}

std::string join_words(const std::vector<std::string> &v, const std::string &sep = " ")
{
    std::string s;
    for (const auto &w : v)
        s += (s.empty() ? "" : sep) + shell_word(w);
    return s;
}

std::string complete_kind(Kind k)
{
    switch (k) {
    case Kind::File: return "_filedir";
    case Kind::Dir: return "_filedir -d";
    case Kind::Point: return "_iommuprof_points";
    case Kind::Command: return "_command_offset $cword";  // a command name here
    case Kind::None: break;
    }
    return ":";
}

std::string bash_command(const Cmd &c)
{
    std::vector<std::string> names, valued;
    std::vector<const Opt *> pos;
    std::string prev_cases;
    for (const auto &o : c.opts) {
        if (o.positional) {
            pos.push_back(&o);
            continue;
        }
        names.insert(names.end(), o.names.begin(), o.names.end());
        if (o.value.empty())
            continue;
        valued.insert(valued.end(), o.names.begin(), o.names.end());
        prev_cases += fmt::format("            {}) {}; return ;;\n", join_words(o.names, "|"), complete_kind(o.kind));
    }
    std::string s = fmt::format("    {})\n", shell_word(c.name));
    s += fmt::format("        _iommuprof_scan $((cmdi + 1)) ' {} '\n", join_words(valued));
    // A command line (run's benchmark) that has begun is completed as that command's own.
    for (size_t k = 0; k < pos.size(); k++)
        if (pos[k]->kind == Kind::Command)
            s += fmt::format("        if ((${{#posidx[@]}} > {})); then _command_offset ${{posidx[{}]}}; return; fi\n", k,
                             k);
    // The value of an option.
    if (!prev_cases.empty())
        s += "        if [[ $dd == 0 ]]; then\n            case $prev in\n" + prev_cases + "            esac\n        fi\n";
    s += fmt::format("        if [[ $dd == 0 && $cur == -* ]]; then COMPREPLY=($(compgen -W '{}' -- \"$cur\")); return; "
                     "fi\n",
                     join_words(names));
    if (!pos.empty()) {
        s += "        case ${#posidx[@]} in\n";
        for (size_t k = 0; k < pos.size(); k++) {
            bool last_repeats = k + 1 == pos.size() && pos[k]->repeat;
            s += fmt::format("        {}) {} ;;\n", last_repeats ? "*" : std::to_string(k), complete_kind(pos[k]->kind));
        }
        s += "        esac\n";
    }
    s += "        ;;\n";
    return s;
}

std::string bash_completion_from_cli(CLI::App &root)
{
    std::vector<Cmd> cmds = describe_commands(root);
    std::vector<Opt> global = describe_options(&root);
    std::vector<std::string> cmd_names, global_names, global_valued;
    for (const auto &c : cmds)
        cmd_names.push_back(c.name);
    for (const auto &o : global) {
        global_names.insert(global_names.end(), o.names.begin(), o.names.end());
        if (!o.value.empty())
            global_valued.insert(global_valued.end(), o.names.begin(), o.names.end());
    }
    std::vector<std::string> points;
    for (const auto &p : catalog())
        points.push_back(p.name);

    std::string s = fmt::format(R"(# bash completion for iommuprof(8)                          -*- shell-script -*-
# Generated by `iommuprof __generate bash-completion` (iommuprof {}) from the
# command-line definition that --help prints: do not edit, rebuild.

# Sets posidx to the word indices of the positional arguments before the
# cursor, and dd to 1 when `--` came before it. $1: the first word after the
# subcommand; $2: the options that take a value, space-separated and padded.
_iommuprof_scan()
{{
    local i
    posidx=() dd=0
    for ((i = $1; i < cword; i++)); do
        if ((dd)) || ((${{#posidx[@]}} > 0 && atend)); then
            posidx+=("$i")
            continue
        fi
        case ${{words[i]}} in
        --) dd=1 ;;
        -?*) [[ $2 == *" ${{words[i]}} "* ]] && ((i++)) ;;
        *) posidx+=("$i") ;;
        esac
    done
}}

# Probe points, as a comma-separated list.
_iommuprof_points()
{{
    local pre=
    [[ $cur == *,* ]] && pre=${{cur%,*}},
    COMPREPLY=($(compgen -P "$pre" -W '{}' -- "${{cur##*,}}"))
    [[ ${{#COMPREPLY[@]}} == 1 ]] && compopt -o nospace
}}

_iommuprof()
{{
    local cur prev words cword split
    _init_completion -s || return

    local i cmd= cmdi=0 posidx dd atend=0
    for ((i = 1; i < cword; i++)); do
        case ${{words[i]}} in
{}        -*) ;;
        *)
            cmd=${{words[i]}} cmdi=$i
            break
            ;;
        esac
    done
    if ((cmdi == 0)); then
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W '{}' -- "$cur"))
        else
            COMPREPLY=($(compgen -W '{}' -- "$cur"))
        fi
        return
    fi

    case $cmd in
)",
                                tool_version(), join_words(points), global_valued.empty() ? std::string()
                                                      : "        " + join_words(global_valued, "|") + ") ((i++)) ;;\n",
                                join_words(global_names), join_words(cmd_names));
    for (const auto &c : cmds) {
        std::string b = bash_command(c);
        if (c.positionals_at_end)
            b.insert(b.find('\n') + 1, "        atend=1\n");
        s += b;
    }
    s += "    esac\n} &&\n    complete -F _iommuprof iommuprof\n\n# ex: filetype=sh\n";
    return s;
}

struct GenerateCmd {
    std::string what, template_path, out;
};

Registrar reg_generate(1000, [](CLI::App &app) {
    auto o = std::make_shared<GenerateCmd>();
    auto *c = app.add_subcommand("__generate", "Write the man page or the bash completion (used by the build)");
    c->group("");  // hidden: not in --help, never suggested
    c->add_option("what", o->what, "man or bash-completion")
        ->required()
        ->check(CLI::IsMember({"man", "bash-completion"}));
    c->add_option("--template", o->template_path, "man: the roff template with the hand-written sections");
    c->add_option("-o,--output", o->out, "Write here (atomically) instead of to standard output");
    CLI::App *root = &app;
    c->callback([o, root] {
        std::string text;
        if (o->what == "man") {
            if (o->template_path.empty())
                throw Error(kExitUsage, "__generate man needs --template FILE");
            text = man_page_from_cli(*root, o->template_path);
        } else {
            text = bash_completion_from_cli(*root);
        }
        if (o->out.empty())
            print_out(text);
        else
            write_file_atomic(o->out, text);
    });
});

}  // namespace
}  // namespace iommuprof::cli
