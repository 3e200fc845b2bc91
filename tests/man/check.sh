#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The manual pages against the code, so that neither drifts:
#   - every section and key the configuration parser accepts
#     (agent/agt_config.c) is an item of its section in csagent.conf(5), and
#     every key it refuses (pin, eab_key) is named there;
#   - every section and key of the policy parser (policy/pol_parse.c) is an
#     item of its section in csagent-policy(5);
#   - every csagent command (agent/agt_main.c's table), account subcommand
#     and long option (each command's struct option) is in csagent(8);
#   - every csca subcommand and long option is in csca(8);
#   - every key of the example configuration is one the parser accepts;
#   - mandoc -Tlint finds no warning or error (when mandoc is installed).
# Prints each missing item and exits 1 if there is one.
#
# usage: check.sh SOURCE_DIR
set -euo pipefail

src=${1:?usage: check.sh SOURCE_DIR}
man=$src/man
fail=0

missing() {
    echo "check.sh: $*" >&2
    fail=1
}

# The body of one mdoc section (.Ss line starting with the given text) up to
# the next .Ss or .Sh.
section_of() { # page, section title as written after ".Ss \&"
    awk -v t="$2" '
        /^\.S[sh] / { on = (index($0, ".Ss \\&" t) == 1) ; next }
        on' "$1"
}

# Keys the parser accepts in the function handling one section, and the
# ones it refuses ("is not allowed").
parser_keys() { # file, function name
    awk -v fn="$2" '
        $0 ~ "^static int " fn "\\(" { on = 1; next }
        on && /^}/ { on = 0 }
        on && match($0, /strcmp\(k, "[a-z_]+"\)/) {
            k = substr($0, RSTART + 11, RLENGTH - 13); pending = k; n = 0
            keys[k] = 1; order[++nk] = k; next
        }
        on && pending != "" && /is not allowed/ { refused[pending] = 1 }
        on && pending != "" && ++n > 3 { pending = "" }
        END { for (i = 1; i <= nk; i++)
                  print (refused[order[i]] ? "refused " : "key ") order[i] }
    ' "$1"
}

# --- csagent.conf(5) -------------------------------------------------------
conf=$man/csagent.conf.5
cfg=$src/agent/agt_config.c
[ -f "$conf" ] || missing "no $conf"
for pair in token:agt_token_key ca:agt_ca_key agent:agt_agent_key \
    identity:agt_identity_key; do
    sec=${pair%%:*} fn=${pair#*:}
    grep -q "\"$sec[ \"]" "$cfg" ||
        missing "$cfg no longer handles [$sec]: update this test"
    body=$(section_of "$conf" "[$sec")
    [ -n "$body" ] || missing "csagent.conf.5: no section [$sec]"
    n=0
    while read -r kind key; do
        n=$((n + 1))
        if [ "$kind" = refused ]; then
            grep -q "^\.Ic $key\$\|Ic $key " "$conf" ||
                missing "csagent.conf.5: refused key '$key' of [$sec] is not named"
        elif ! grep -q "^\.It Ic $key\( \|\$\)" <<<"$body"; then
            missing "csagent.conf.5: key '$key' of [$sec] is missing"
        fi
    done < <(parser_keys "$cfg" "$fn")
    [ "$n" -gt 0 ] || missing "found no keys in $fn of $cfg: update this test"
done
# Sections the handler accepts that the loop above does not know.
for sec in $(grep -o 'strn\?cmp(section, "[a-z ]*"' "$cfg" |
    sed 's/.*"\([a-z]*\) *"$/\1/'); do
    case " token ca agent identity " in *" $sec "*) ;;
    *) missing "agt_config.c accepts [$sec], unknown to this test and the page" ;;
    esac
done

# --- example configuration -------------------------------------------------
all_cfg_keys=$(for fn in agt_token_key agt_ca_key agt_agent_key \
    agt_identity_key; do parser_keys "$cfg" "$fn"; done |
    awk '$1 == "key" { print $2 }')
for ex in "$src"/dist/*.example.ini; do
    [ -f "$ex" ] || continue
    for key in $(sed -n 's/^\([a-z_]*\) *=.*/\1/p' "$ex"); do
        grep -qx "$key" <<<"$all_cfg_keys" ||
            missing "$(basename "$ex"): key '$key' is not accepted by the parser"
    done
done

# --- csagent-policy(5) -----------------------------------------------------
pol=$man/csagent-policy.5
pp=$src/policy/pol_parse.c
[ -f "$pol" ] || missing "no $pol"
n=0
while read -r sec key; do
    n=$((n + 1))
    section_of "$pol" "[$sec]" | grep -q "^\.It Ic $key\( \|\$\)" ||
        missing "csagent-policy.5: key '$key' of [$sec] is missing"
done < <(sed -n 's/^ *PK("\([a-z]*\)", "\([a-z_]*\)".*/\1 \2/p' "$pp")
[ "$n" -gt 0 ] || missing "found no PK() keys in $pp: update this test"
profiles=$(sed -n 's/.*\[POL_PROFILE_[A-Z_]*\] *= *"\([a-z-]*\)".*/\1/p' \
    "$src"/policy/*.c)
[ -n "$profiles" ] || missing "found no profile names in policy/: update this test"
prof_body=$(section_of "$pol" "[profile.")
for p in $profiles; do
    grep -q "^\.Ss .*\[profile\.$p\]" "$pol" ||
        missing "csagent-policy.5: section [profile.$p] is missing"
done
n=0
for key in $(sed -n 's/^ *PR("\([a-z_]*\)".*/\1/p' "$pp"); do
    n=$((n + 1))
    grep -q "^\.It Ic $key\( \|\$\)" <<<"$prof_body" ||
        missing "csagent-policy.5: profile key '$key' is missing"
done
[ "$n" -gt 0 ] || missing "found no PR() keys in $pp: update this test"

# --- csagent(8) --------------------------------------------------------------
page=$src/man/csagent.8
main=$src/agent/agt_main.c
cmds=$(sed -n 's/^ *{"\([a-z-]*\)", agt_cmd_.*/\1/p' "$main")
[ -n "$cmds" ] || missing "found no commands in $main: update this test"
for c in $cmds; do
    grep -q "^\.It Cm $c\( \|\$\)" "$page" ||
        missing "csagent.8: command '$c' is missing"
done
for sub in $(grep -o 'strcmp(sub, "[a-z]*")' "$src/agent/agt_cmd_acme.c" |
    sed 's/.*"\(.*\)")/\1/' | sort -u); do
    grep -q "Cm .*\b$sub\b" "$page" ||
        missing "csagent.8: account subcommand '$sub' is missing"
done
opts=$(grep -ho '{"[a-z-]*", *\(no\|required\|optional\)_argument' \
    "$src"/agent/*.c "$src"/agent/*.h | sed 's/{"\([a-z-]*\)".*/\1/' |
    sort -u)
[ -n "$opts" ] || missing "found no long options in agent/: update this test"
for o in $opts; do
    grep -q "Fl \\\\-$o\( \|\$\)" "$page" ||
        missing "csagent.8: option '--$o' is missing"
done

# --- csca(8) -----------------------------------------------------------------
page=$src/man/csca.8
for o in $(grep -ho '{"[a-z-]*", *\(no\|required\|optional\)_argument' \
    "$src"/testca/*.c | sed 's/{"\([a-z-]*\)".*/\1/' | sort -u); do
    grep -q "Fl \\\\-$o\( \|\$\|=\)\|Fl \\\\-$o Ns" "$page" ||
        missing "csca.8: option '--$o' is missing"
done
for kind in $(grep -o 'strcmp(kind, "[a-z]*")' "$src/testca/registry.c" |
    sed 's/.*"\(.*\)")/\1/' | sort -u); do
    grep -q "Cm .*\b$kind\b" "$page" ||
        missing "csca.8: subcommand '$kind' is missing"
done

# --- mandoc ----------------------------------------------------------------
if command -v mandoc >/dev/null; then
    if ! out=$(mandoc -Tlint -W warning "$man"/*.[58] 2>&1) || [ -n "$out" ]; then
        missing "mandoc -Tlint: $out"
    fi
else
    echo "check.sh: mandoc not installed, lint skipped" >&2
fi

if [ "$fail" -ne 0 ]; then
    echo "check.sh: the manual pages and the code disagree (see above)" >&2
    exit 1
fi
echo "check.sh: manual pages cover every command, option, section and key"
