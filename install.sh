#!/usr/bin/env bash
# Install nova-ha on a controller or a compute node: the compiled handlers and the CLI, the
# watches and checks in each of the node's three Consul agents' config dirs, a sudoers drop-in
# for the compute role's repair commands. A second run changes nothing; --uninstall removes
# exactly what an install added (the config file and the state stay).
#
# Root trusts the config (its repair commands become sudo rules), the installed code and the
# directories above the agents' own: install.sh refuses any of them that a user other than root
# could change, one line each with the fix, and writes nothing then (docs/security.md).
#
#   install.sh --role controller|compute [options]
#   install.sh --uninstall [options]
#
# Options (defaults in brackets):
#   --config FILE          nova-ha's config [/etc/nova-ha/nova-ha.conf]; never overwritten, only
#                          set to root:<agents' group> 0640 while only root can have written it
#   --lib DIR              where the compiled handlers go [/usr/lib/nova-ha]
#   --bin-dir DIR          where the nova-ha command goes [/usr/local/bin]
#   --agent NET=DIR[,FILE...]
#                          the config dir of the NET agent (mgmt, storage, tenant), plus any other
#                          config file that agent loads (for consul validate) [/etc/consul-NET.d]
#   --consul PATH          the consul binary [consul on PATH]
#   --consul-user USER     the user the Consul agents run as [[remediation] run_as]
#   --sudoers-file PATH    compute role: the sudoers drop-in [/etc/sudoers.d/nova-ha]
#   --systemd-dir DIR      where nova-ha's opt-in services go (nova-ha-watchdog on a compute with
#                          [watchdog] enabled, nova-ha-kdump on a controller with [kdump] enabled)
#                          [/etc/systemd/system]
#   --node PATH            the node binary handlers run with [node on PATH]
#   --restart NET=COMMAND  how to restart the NET agent, for the one restart Consul needs to start
#                          running script checks (e.g. --restart mgmt='systemctl restart consul-mgmt');
#                          without it, install.sh stops and asks for that restart
#   --no-reload            do not reload the agents (they pick the fragments up at their next start)
set -euo pipefail
umask 022
src=$(cd "$(dirname "$0")" && pwd)

role= config=/etc/nova-ha/nova-ha.conf lib=/usr/lib/nova-ha bin_dir=/usr/local/bin consul= consul_user= sudoers=/etc/sudoers.d/nova-ha node= reload=1 uninstall=
systemd_dir=/etc/systemd/system
declare -A agent_dir=([mgmt]=/etc/consul-mgmt.d [storage]=/etc/consul-storage.d [tenant]=/etc/consul-tenant.d)
declare -A agent_extra=([mgmt]= [storage]= [tenant]=)
declare -A agent_restart=()
NETWORKS=(mgmt storage tenant)

die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }
say() { printf 'install.sh: %s\n' "$*"; }
while [ $# -gt 0 ]; do
  case $1 in
    --role) role=${2:?}; shift 2 ;;
    --config) config=${2:?}; shift 2 ;;
    --lib) lib=${2:?}; shift 2 ;;
    --bin-dir) bin_dir=${2:?}; shift 2 ;;
    --consul) consul=${2:?}; shift 2 ;;
    --consul-user) consul_user=${2:?}; shift 2 ;;
    --sudoers-file) sudoers=${2:?}; shift 2 ;;
    --systemd-dir) systemd_dir=${2:?}; shift 2 ;;
    --node) node=${2:?}; shift 2 ;;
    --no-reload) reload=; shift ;;
    --restart)
      spec=${2:?}; shift 2
      net=${spec%%=*}
      [[ " ${NETWORKS[*]} " == *" $net "* ]] || die "--restart $spec: the network must be mgmt, storage or tenant"
      agent_restart[$net]=${spec#*=} ;;
    --uninstall) uninstall=1; shift ;;
    --agent)
      spec=${2:?}; shift 2
      net=${spec%%=*}; paths=${spec#*=}
      [[ " ${NETWORKS[*]} " == *" $net "* ]] || die "--agent $spec: the network must be mgmt, storage or tenant"
      agent_dir[$net]=${paths%%,*}
      [[ $paths == *,* ]] && agent_extra[$net]=${paths#*,} || agent_extra[$net]= ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done

config=$(realpath -m "$config"); lib=$(realpath -m "$lib"); bin_dir=$(realpath -m "$bin_dir")
# One manifest per config file: several nodes may share one --lib (as in nova-ha's lab).
manifest=$lib/manifests/$(printf '%s' "$config" | sha256sum | cut -c1-16)
node=${node:-$(command -v node || true)}
consul=${consul:-$(command -v consul || true)}
cli() { "$node" "$lib/cli/nova-ha.js" --config "$config" "$@"; }
# systemctl only for a unit where a running systemd loads it: not in a container without systemd,
# and not for a --systemd-dir of one's own (nova-ha's lab starts its services by hand).
systemd_manages() {
  [ -d /run/systemd/system ] && command -v systemctl >/dev/null || return 1
  case $(dirname "$1") in /etc/systemd/system|/run/systemd/system|/usr/lib/systemd/system|/lib/systemd/system) return 0 ;; *) return 1 ;; esac
}
remove_unit() {
  local path=$1 name=$2
  if systemd_manages "$path"; then systemctl disable --now "$name.service" >/dev/null 2>&1 || say "warning: could not stop $name"; fi
  rm -f "$path" && say "removed $path"
  if systemd_manages "$path"; then systemctl daemon-reload || true; fi
}

# --- uninstall: exactly what the manifest lists ------------------------------------------------
if [ -n "$uninstall" ]; then
  [ -f "$manifest" ] || die "$manifest not found: nothing was installed with --config $config and --lib $lib"
  reloads=()
  while IFS=' ' read -r kind path extra; do
    case $kind in
      fragment) rm -f "$path"; say "removed $path"; reloads+=("$extra") ;;
      unit) remove_unit "$path" "$extra" ;;
      file) rm -f "$path"; say "removed $path" ;;
      dir) rmdir "$path" 2>/dev/null && say "removed $path" || say "kept $path (not empty)" ;;
    esac
  done < <(tac "$manifest")
  if [ -n "$reload" ] && [ -x "$node" ] && [ -f "$lib/cli/nova-ha.js" ]; then
    [ ${#reloads[@]} -gt 0 ] && { cli agent-reload --network "$(IFS=,; echo "${reloads[*]}")" || say "warning: could not reload the agents; restart them to drop nova-ha's watches"; }
  fi
  rm -f "$manifest"
  if [ -z "$(ls -A "$lib/manifests" 2>/dev/null)" ]; then
    rm -rf "$lib"
    say "removed $lib"
  else
    say "kept $lib: other installs use it"
  fi
  say "nova-ha is uninstalled (config $config and the state directory were kept)"
  exit 0
fi

# --- preflight: every requirement that is not met, one line each, before anything changes ------
problems=()
need() { problems+=("$*"); }
[ "$role" = controller ] || [ "$role" = compute ] || need "--role must be controller or compute (found '${role:-nothing}')"
if [ -z "$node" ] || [ ! -x "$node" ]; then
  need "node not found: install Node.js 20.19 or newer, or pass --node PATH"
elif ! "$node" -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)'; then
  need "node $("$node" --version) is too old: nova-ha needs Node.js 20.19 or newer"
fi
[ -f "$src/dist/cli/nova-ha.js" ] && [ -d "$src/dist/handlers" ] || need "$src/dist is missing: build it first (npm ci && npm run build)"
[ -n "$consul" ] && [ -x "$consul" ] || need "consul binary not found: install Consul or pass --consul PATH"
for net in "${NETWORKS[@]}"; do
  [ -d "${agent_dir[$net]}" ] || need "the $net Consul agent's config dir ${agent_dir[$net]} does not exist: pass --agent $net=DIR"
done
[ -f "$config" ] || need "$config does not exist: create it from $config.sample (written now if missing) and run install.sh again"
# What the config asks for (plan_* values, the three fragments, the sudoers drop-in), from the
# config itself, which only root may have written: root trusts it (its repair commands become sudo
# rules), so a config, program or directory another user could change stops the install here.
plan_dir=$(mktemp -d)
trap 'rm -rf "$plan_dir"' EXIT
plan_run_as= plan_fencing= plan_sudoers= plan_units= secured=
declare -A said=()
need_once() { [ -n "${said[$1]:-}" ] && return 0; said[$1]=1; need "$1"; }
if [ -f "$config" ] && [ -f "$src/dist/cli/nova-ha.js" ] && [ -x "$node" ] && [ -n "$role" ]; then
  src_cli() { "$node" "$src/dist/cli/nova-ha.js" --config "$config" "$@"; }
  agent_user=${consul_user:-consul}
  as_agent=()
  if [ "$(id -u)" = 0 ] && id "$agent_user" >/dev/null 2>&1; then
    # A config only root can have written gets root:<agents' group> 0640; any other is refused below.
    secured=$(src_cli secure-config --agent-user "$agent_user" 2>&1) || need "${secured#nova-ha: }"
    [ -n "$secured" ] && say "$secured"
    # The handlers run as the agents' user: the files the config names are checked with its rights.
    agent=(setpriv --reuid="$agent_user" --regid="$(id -g "$agent_user")" --init-groups --)
    "${agent[@]}" test -r "$config" && as_agent=("${agent[@]}")
  fi
  if ! out=$("${as_agent[@]}" "$node" "$src/dist/cli/nova-ha.js" --config "$config" check-config 2>&1); then
    while IFS= read -r line; do [[ $line == *warning:* ]] || need_once "$line"; done <<<"$(grep -v ': [0-9]* problems*;' <<<"$out")"
  elif [ "$role" = controller ] || [ "$role" = compute ]; then
    # Run as root, whatever check-config (run as the agents' user) said: this is what root trusts.
    plan_args=(--role "$role" --lib "$lib" --node "$node" --out "$plan_dir" --bin-dir "$bin_dir" --systemd-dir "$systemd_dir")
    [ -n "$consul" ] && plan_args+=(--consul "$consul")
    [ -n "$consul_user" ] && plan_args+=(--agent-user "$consul_user")
    [ "$role" = compute ] && plan_args+=(--sudoers-file "$sudoers")
    if ! plan=$(src_cli install-plan "${plan_args[@]}" 2>&1); then
      while IFS= read -r line; do need_once "${line#nova-ha: }"; done <<<"$plan"
    else
      eval "$plan"
    fi
  fi
fi
consul_user=${consul_user:-${plan_run_as:-consul}}
id "$consul_user" >/dev/null 2>&1 || need "user $consul_user (the Consul agents' user) does not exist: pass --consul-user or set [remediation] run_as"
if [ "$role" = controller ] && [ "$plan_fencing" = ipmi ]; then
  command -v ipmitool >/dev/null || need "ipmitool not found, and [fencing] method = ipmi needs it: apt-get install ipmitool"
fi
if [ "$role" = compute ]; then
  command -v sudo >/dev/null || need "sudo not found: the compute role runs its repair commands through sudo (apt-get install sudo)"
  command -v visudo >/dev/null || need "visudo not found (it comes with sudo)"
fi
# Never overwrite a config: a missing one gets the sample beside it, to copy and edit.
if [ ! -f "$config" ] && [ -f "$src/etc/nova-ha.conf.sample" ] && [ ! -e "$config.sample" ]; then
  mkdir -p "$(dirname "$config")" && install -m 0600 "$src/etc/nova-ha.conf.sample" "$config.sample"
fi
if [ ${#problems[@]} -gt 0 ]; then
  printf 'install.sh: cannot install (nothing %swas changed):\n' "${secured:+else }" >&2
  printf '  - %s\n' "${problems[@]}" >&2
  exit 1
fi

# --- install -------------------------------------------------------------------------------------
changed=0
declare -A seen_manifest=()
record() { local line="$*"; [ -n "${seen_manifest[$line]:-}" ] && return 0; seen_manifest[$line]=1; echo "$line" >>"$manifest.new"; }
mkdir -p "$lib/manifests"
: >"$manifest.new"

# Handlers and CLI: replace the tree only when its content differs, so a second run changes nothing.
# Root runs this code (the CLI) and the agents' user runs it (the handlers): root owns every file.
if ! diff -rq "$src/dist" "$lib/dist-installed" >/dev/null 2>&1; then
  rm -rf "$lib/.new" && mkdir -p "$lib/.new" && cp -R --no-preserve=ownership "$src/dist/." "$lib/.new/"
  rm -rf "$lib/handlers" "$lib/cli" "$lib/chunks" "$lib/dist-installed"
  cp -R --no-preserve=ownership "$lib/.new/." "$lib/" && mv "$lib/.new" "$lib/dist-installed"
  say "installed handlers and CLI into $lib"
  changed=1
fi
chown -R root:root "$lib" && chmod -R u+rwX,go+rX,go-w "$lib"

mkdir -p "$bin_dir"
wrapper=$bin_dir/nova-ha
want=$(printf '#!/bin/sh\n# installed by nova-ha install.sh\nNOVA_HA_CONFIG=${NOVA_HA_CONFIG:-%q} exec %q %q "$@"\n' "$config" "$node" "$lib/cli/nova-ha.js")
if [ "$(cat "$wrapper" 2>/dev/null)" != "$want" ] || [ "$(stat -c '%u %a' "$wrapper" 2>/dev/null)" != "0 755" ]; then
  printf '%s\n' "$want" >"$plan_dir/wrapper" && install -m 0755 -o root -g root "$plan_dir/wrapper" "$wrapper" && say "installed $wrapper" && changed=1
fi
record file "$wrapper"

# The agents' own directories: theirs to write, under directories only root can change (checked
# above), and never through a link someone put in their place.
for dir in "$plan_state_dir" ${plan_log_file:+"$(dirname "$plan_log_file")"}; do
  [ -L "$dir" ] && die "$dir is a symbolic link: install.sh would hand whatever it points to to $consul_user; make it a real directory"
  if [ ! -d "$dir" ]; then
    mkdir -p "$dir" && say "created $dir" && changed=1 && record dir "$dir"
  elif grep -qx "dir $dir" "$manifest" 2>/dev/null; then
    record dir "$dir"
  fi
  mode=750; [ "$dir" = "$plan_state_dir" ] && mode=700
  if [ "$(stat -c '%U %a' "$dir")" != "$consul_user $mode" ]; then chown -h "$consul_user" "$dir" && chmod "$mode" "$dir" && changed=1; fi
done

# Consul fragments: one per agent, validated with the agent's whole config before it is reloaded.
group=$(id -gn "$consul_user")
to_reload=()
for net in "${NETWORKS[@]}"; do
  dir=${agent_dir[$net]}
  target=$dir/nova-ha.json
  record fragment "$target" "$net"
  if [ ! -L "$target" ] && cmp -s "$plan_dir/$net.json" "$target"; then continue; fi
  # The agent's config dir may belong to the agents' user (packaged Consul does that): the old
  # fragment is kept in root's own temp dir, and install replaces a link rather than follow it.
  previous=
  if [ -f "$target" ] && [ ! -L "$target" ]; then previous=$plan_dir/$net.previous; cp "$target" "$previous"; fi
  install -m 0640 -o root -g "$group" "$plan_dir/$net.json" "$target"
  extras=()
  IFS=',' read -ra extras <<<"${agent_extra[$net]}"
  if ! out=$("$consul" validate "${extras[@]}" "$dir" 2>&1); then
    if [ -n "$previous" ]; then install -m 0640 -o root -g "$group" "$previous" "$target"; else rm -f "$target"; fi
    printf '%s\n' "$out" >&2
    die "consul validate refused the $net agent's config with nova-ha's fragment ($target); the previous config was restored"
  fi
  summary=plan_summary_$net
  say "wrote $target (${!summary})"
  to_reload+=("$net")
  changed=1
done

# Compute role: the agents' user may run exactly the configured repair commands as root, each with
# exactly its arguments. install-plan rendered the rule from the trusted config and refused any
# character sudoers treats specially; visudo checks the drop-in alone and sudo's whole config with it.
if [ "$role" = compute ]; then
  if [ -n "$plan_sudoers" ]; then
    if [ "$(cat "$sudoers" 2>/dev/null)" != "$(cat "$plan_sudoers")" ] || [ "$(stat -c '%u %g %a' "$sudoers" 2>/dev/null)" != "0 0 440" ]; then
      visudo -cqf "$plan_sudoers" >/dev/null || die "visudo refused the sudoers drop-in for the repair commands: check [remediation] restart_storage_network and restart_nova_compute"
      previous=
      if [ -f "$sudoers" ]; then previous=$plan_dir/sudoers.previous; cp "$sudoers" "$previous"; fi
      install -m 0440 -o root -g root "$plan_sudoers" "$sudoers"
      if ! out=$(visudo -cq 2>&1); then
        if [ -n "$previous" ]; then install -m 0440 -o root -g root "$previous" "$sudoers"; else rm -f "$sudoers"; fi
        die "visudo refused sudo's configuration with nova-ha's drop-in ($out); the previous drop-in was restored"
      fi
      say "wrote $sudoers (checked with visudo): $consul_user may run $(grep -c NOPASSWD "$sudoers") repair command(s) as root"
      changed=1
    fi
    record file "$sudoers"
  elif [ -f "$sudoers" ] && grep -qx "file $sudoers" "$manifest" 2>/dev/null; then
    # No repair command configured any more: the grant goes too.
    rm -f "$sudoers" && say "removed $sudoers (no repair command is configured)" && changed=1
  fi
fi

# nova-ha's opt-in services (lib/systems/systemd/units.ts): installed, enabled and (re)started when
# they change; those an earlier install added and the config no longer asks for are removed.
declare -A planned_unit=()
for name in ${plan_units//,/ }; do
  planned_unit[$name]=1
  target=$systemd_dir/$name.service
  record unit "$target" "$name"
  cmp -s "$plan_dir/units/$name.service" "$target" && continue
  mkdir -p "$systemd_dir"
  install -m 0644 -o root -g root "$plan_dir/units/$name.service" "$target"
  say "wrote $target"
  changed=1
  if systemd_manages "$target"; then
    systemctl daemon-reload && systemctl enable "$name.service" >/dev/null && systemctl restart "$name.service" || die "systemctl could not start $name: see journalctl -u $name"
    say "started $name"
  else
    say "no systemd loads $systemd_dir here: start $name yourself (its ExecStart in $target)"
  fi
done
if [ -f "$manifest" ]; then
  while IFS=' ' read -r kind path extra; do
    [ "$kind" = unit ] && [ -z "${planned_unit[$extra]:-}" ] && { remove_unit "$path" "$extra"; changed=1; }
  done <"$manifest"
fi

mv "$manifest.new" "$manifest"
reload_agents() { cli agent-reload --network "$(IFS=,; echo "${to_reload[*]}")" --needs-scripts "$plan_scripts"; }
# An agent whose fragment was written by an earlier run but that never restarted still needs it.
if [ -n "$reload" ] && [ -n "$plan_scripts" ] && [ ${#to_reload[@]} -eq 0 ]; then
  cli agent-reload --network "$plan_scripts" --needs-scripts "$plan_scripts" --check-only >/dev/null 2>&1 || { IFS=, read -ra to_reload <<<"$plan_scripts"; changed=1; }
fi
if [ -n "$reload" ] && [ ${#to_reload[@]} -gt 0 ]; then
  set +e; out=$(reload_agents 2>&1); rc=$?; set -e
  if [ $rc = 3 ]; then
    # An agent must restart once before it runs script checks (Consul does not reload that setting).
    for net in ${plan_scripts//,/ }; do
      [ -n "${agent_restart[$net]:-}" ] || die "${out#nova-ha: } (or pass --restart $net=COMMAND); the fragments are written, run install.sh again afterwards"
      say "restarting the $net agent: ${agent_restart[$net]}"
      bash -c "${agent_restart[$net]}" || die "the restart command for the $net agent failed: ${agent_restart[$net]}"
    done
    set +e; out=$(reload_agents 2>&1); rc=$?; set -e
  fi
  [ $rc = 0 ] || die "${out#nova-ha: }"
  printf '%s\n' "$out" | sed 's/^/install.sh: /'
fi
if [ "$changed" = 0 ]; then say "nothing to change: nova-ha ($role) is installed"; else say "nova-ha ($role) is installed"; fi
