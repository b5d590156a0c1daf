# Sourced by the guest's job (scripts/lab/run --net) before the command: brings up the two NICs
# that are cabled to each other, the e1000e end in network namespace labpeer, link-local addresses
# on both (169.254.77.1 virtio-net, 169.254.77.2 e1000e), no route beyond the link. Exports
# LAB_NET_IF, LAB_NET_PEER_IF, LAB_NET_NS, LAB_NET_ADDR, LAB_NET_PEER_ADDR.
lab_net_fail() { echo "lab: net: $*" >&2; return 1; }
modprobe -a virtio_net e1000e || lab_net_fail "cannot load virtio_net/e1000e" || return 1
LAB_NET_IF= LAB_NET_PEER_IF=
for _ in $(seq 200); do
    for n in /sys/class/net/*; do
        case $(readlink -f "$n/device") in
            */"$LAB_NET_VIRTIO_BDF"/virtio*) LAB_NET_IF=${n##*/} ;;
            */"$LAB_NET_E1000E_BDF") LAB_NET_PEER_IF=${n##*/} ;;
        esac
    done
    [[ -n $LAB_NET_IF && -n $LAB_NET_PEER_IF ]] && break
    sleep 0.1
done
[[ -n $LAB_NET_IF && -n $LAB_NET_PEER_IF ]] || lab_net_fail "NICs not found: virtio-net '$LAB_NET_IF', e1000e '$LAB_NET_PEER_IF'" || return 1
LAB_NET_NS=labpeer LAB_NET_ADDR=169.254.77.1 LAB_NET_PEER_ADDR=169.254.77.2
ip netns add "$LAB_NET_NS" &&
    ip link set "$LAB_NET_PEER_IF" netns "$LAB_NET_NS" &&
    ip addr add "$LAB_NET_ADDR/16" dev "$LAB_NET_IF" &&
    ip link set "$LAB_NET_IF" up &&
    ip -n "$LAB_NET_NS" link set lo up &&
    ip -n "$LAB_NET_NS" addr add "$LAB_NET_PEER_ADDR/16" dev "$LAB_NET_PEER_IF" &&
    ip -n "$LAB_NET_NS" link set "$LAB_NET_PEER_IF" up || lab_net_fail "ip setup failed" || return 1
# Carrier on both ends (e1000e's watchdog takes a second or two).
for _ in $(seq 150); do
    ip -o link show "$LAB_NET_IF" | grep -q LOWER_UP &&
        ip -n "$LAB_NET_NS" -o link show "$LAB_NET_PEER_IF" | grep -q LOWER_UP && break
    sleep 0.1
done
ip -o link show "$LAB_NET_IF" | grep -q LOWER_UP || lab_net_fail "no carrier on $LAB_NET_IF" || return 1
export LAB_NET_IF LAB_NET_PEER_IF LAB_NET_NS LAB_NET_ADDR LAB_NET_PEER_ADDR
