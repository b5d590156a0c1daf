#!/usr/bin/env bash
# The hidden `__generate man|bash-completion` (user/cli/cmd_generate.cpp): hidden from --help
# and from the "did you mean" hints, one-line errors, a man page groff renders without a
# warning and a completion script bash accepts, both covering every command of --help.
. "$(dirname "$0")/lib.sh"
SRC=${IOMMUPROF_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
tpl=$SRC/dist/man/iommuprof.8.in
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# Hidden: not in --help, never suggested, mistypes of it get no hint.
expect_exit 0 "--help" -- "$IP" --help
[[ $out != *__generate* ]] && ok "--help does not list __generate" || bad "--help lists __generate"
expect_exit 2 "'generate' is an unknown command" -- "$IP" generate
[[ $err == *"unknown command 'generate'"* && $err != *"did you mean"* ]] && ok "'generate': no hint to the hidden command" ||
    bad "'generate': $err"
expect_exit 2 "'__generat' is an unknown command" -- "$IP" __generat
[[ $err != *"did you mean"* ]] && ok "'__generat': no hint" || bad "'__generat': $err"
expect_exit 2 "'reprot' is an unknown command" -- "$IP" reprot
[[ $err == *"did you mean 'report'?"* ]] && ok "'reprot': the hint for visible commands stays" || bad "'reprot': $err"

# Bad input: one line, exit 2.
expect_exit 2 "__generate without what" -- "$IP" __generate
expect_exit 2 "__generate of something else" -- "$IP" __generate html
one_line_error "__generate html"
expect_exit 2 "__generate man without --template" -- "$IP" __generate man
one_line_error "__generate man without --template"
[[ $err == *--template* ]] && ok "the message names --template" || bad "no --template in: $err"
expect_exit 2 "__generate man with a missing template" -- "$IP" __generate man --template "$tmp/none.8.in"
one_line_error "missing template"
printf '.TH X 8\n@NAME@\n@SYNOPSIS@\n@COMANDS@\n' >"$tmp/typo.8.in"
expect_exit 2 "a template with an unknown marker" -- "$IP" __generate man --template "$tmp/typo.8.in"
[[ $err == *"typo.8.in:4: unknown marker @COMANDS@"* ]] && ok "the unknown marker and its line are named" || bad "typo: $err"
printf '.TH X 8\n@NAME@\n@SYNOPSIS@\n' >"$tmp/short.8.in"
expect_exit 2 "a template without @COMMANDS@" -- "$IP" __generate man --template "$tmp/short.8.in"
[[ $err == *@COMMANDS@* ]] && ok "the missing marker is named" || bad "short: $err"
expect_exit 2 "a bad SOURCE_DATE_EPOCH" -- env SOURCE_DATE_EPOCH=yesterday "$IP" __generate man --template "$tpl"
one_line_error "bad SOURCE_DATE_EPOCH"

# The man page.
subs=$("$IP" --help | awk '/^Subcommands:/ { on = 1; next } on && /^  [a-z]/ { print $1 }')
[[ $(wc -w <<<"$subs") -ge 8 ]] && ok "--help lists $(wc -w <<<"$subs") commands" || bad "commands in --help: $subs"
expect_exit 0 "__generate man" -- env SOURCE_DATE_EPOCH=86400 "$IP" __generate man --template "$tpl"
man=$out
[[ $man == *'.TH IOMMUPROF 8 "1970-01-02" "iommuprof '* ]] && ok "the date comes from SOURCE_DATE_EPOCH" ||
    bad "title line: $(grep '^\.TH' <<<"$man")"
if grep -qE '@[A-Z_]+@' <<<"$man"; then bad "markers left: $(grep -oE '@[A-Z_]+@' <<<"$man")"; else ok "every marker filled in"; fi
warn=$(groff -ww -man -z <<<"$man" 2>&1)
[[ -z $warn ]] && ok "groff -ww -man: no warning" || bad "groff warnings: $warn"
missing=
for s in $subs; do
    grep -qx ".SS $s" <<<"$man" || missing+=" $s"
done
[[ -z $missing ]] && ok "a section per command" || bad "no section for:$missing"
grep -q '^\.TP' <<<"$man" && grep -qF '\fB\-\-openmetrics\-file\fR \fIFILE\fR' <<<"$man" &&
    ok "options with their value type" || bad "top --openmetrics-file FILE not in the man page"
grep -qF 'Value: NUMBER in [0.1, 3600].' <<<"$man" && ok "ranges from the validators" || bad "no range for top -i"
grep -qF 'Needs \-\-openmetrics\-file.' <<<"$man" && ok "Needs from the definition" || bad "no Needs for --no-cpu-label"
rendered=$(groff -man -Tutf8 <<<"$man" 2>/dev/null)
[[ $rendered == *"iommuprof top"* && $rendered != *__generate* ]] && ok "the man page leaves __generate out" ||
    bad "__generate in the man page"
"$IP" __generate man --template "$tpl" -o "$tmp/iommuprof.8" && [[ -s $tmp/iommuprof.8 ]] &&
    ok "__generate man -o FILE" || bad "__generate man -o FILE"

# The completion script.
expect_exit 0 "__generate bash-completion" -- "$IP" __generate bash-completion
comp=$out
bash -n <<<"$comp" && ok "bash -n accepts the completion script" || bad "completion script: syntax error"
grep -q 'complete -F _iommuprof iommuprof$' <<<"$comp" &&
    ok "registers _iommuprof for iommuprof" || bad "no complete -F line"
missing=
for s in $subs; do
    grep -qx "    $s)" <<<"$comp" || missing+=" $s"
done
[[ -z $missing ]] && ok "a case per command" || bad "no completion case for:$missing"
[[ $comp != *"__generate)"* ]] && ok "no completion case for __generate" || bad "__generate completed"
finish
