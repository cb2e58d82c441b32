#!/bin/sh
# Select the iptables backend the node already uses, then run kube-router.
#
# kube-router edits the filter table next to kube-proxy's and kubelet's rules;
# both must go through the same backend (iptables-nft or iptables-legacy) or
# the rule sets end up in different kernel tables. KUBE_ROUTER_IPTABLES_MODE
# forces a backend (nft | legacy); the default "auto" looks at the host:
#   1. kubelet's marker chains (KUBE-IPTABLES-HINT, KUBE-KUBELET-CANARY),
#   2. otherwise whichever backend holds more rules (ties go to nft).
set -eu

mode="${KUBE_ROUTER_IPTABLES_MODE:-auto}"

count() {
    # count <backend> <pattern>: matching lines of `iptables-<backend>-save`
    { "iptables-$1-save" 2>/dev/null || true; } | grep -c -E "$2" || true
}

if [ "$mode" = auto ]; then
    marks='^:(KUBE-IPTABLES-HINT|KUBE-KUBELET-CANARY) '
    nft_marks=$(count nft "$marks")
    legacy_marks=$(count legacy "$marks")
    if [ "$nft_marks" -gt 0 ] && [ "$legacy_marks" -eq 0 ]; then
        mode=nft
    elif [ "$legacy_marks" -gt 0 ] && [ "$nft_marks" -eq 0 ]; then
        mode=legacy
    else
        nft_rules=$(count nft '^-A ')
        legacy_rules=$(count legacy '^-A ')
        if [ "$legacy_rules" -gt "$nft_rules" ]; then mode=legacy; else mode=nft; fi
    fi
    echo "kube-router-entrypoint: iptables backend auto-detected: $mode" \
        "(markers nft=$nft_marks legacy=$legacy_marks)" >&2
fi

case "$mode" in
    nft | legacy) ;;
    *)
        echo "kube-router-entrypoint: KUBE_ROUTER_IPTABLES_MODE must be auto, nft or legacy, not '$mode'" >&2
        exit 2
        ;;
esac

update-alternatives --set iptables "/usr/sbin/iptables-$mode" >/dev/null
update-alternatives --set ip6tables "/usr/sbin/ip6tables-$mode" >/dev/null
echo "kube-router-entrypoint: $(iptables --version)" >&2

exec "${KUBE_ROUTER_BIN:-/usr/local/bin/kube-router}" "$@"
