"""CIDR lists judged by the address space they cover, not by how they are spelled.

`0.0.0.0/0` and `[0.0.0.0/1, 128.0.0.0/1]` open the same door; so does a
hundred /8s. A list is parsed with `ipaddress` (a malformed entry is an error,
not "no match"), collapsed, and the public (globally routed) addresses it
covers are counted. The specs' checks and the policy rules share this module;
standard library only, like every rule.
"""

from __future__ import annotations

import ipaddress
from typing import Iterable, Optional, Union

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]

# Most public address space an allow-list may open: a /8 of IPv4 (16.7 million addresses, far
# beyond any office or VPN range) or a /32 of IPv6 (a whole provider allocation).
MAX_PUBLIC_ADDRESSES = {4: 2 ** 24, 6: 2 ** 96}

# Ranges that are not reachable from the internet (RFC 6890 special-purpose registries).
_NOT_PUBLIC = {
    4: [ipaddress.ip_network(n) for n in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
        "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
        "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4")],
    6: [ipaddress.ip_network(n) for n in (
        "::/128", "::1/128", "::ffff:0:0/96", "64:ff9b:1::/48", "100::/64", "2001:db8::/32",
        "fc00::/7", "fe80::/10", "ff00::/8")],
}


def cidr_problem(text: object) -> Optional[str]:
    """Why `text` is not a CIDR network in canonical form (like 10.0.0.0/16); None when it is."""
    if not isinstance(text, str):
        return f"expected a CIDR like 10.0.0.0/16, found {type(text).__name__}"
    if "/" not in text:
        return f"expected a CIDR like 10.0.0.0/16 (address/prefix length), found {text!r}"
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError as error:
        return f"expected a CIDR like 10.0.0.0/16, found {text!r}: {error}"
    if str(network) != text:
        try:
            ipaddress.ip_network(text, strict=True)
        except ValueError:
            return f"{text!r} has host bits set; the network is {str(network)!r}"
        return f"expected a CIDR in canonical form, found {text!r}; did you mean {str(network)!r}?"
    return None


def parse(cidrs: Iterable[str]) -> list[Network]:
    """The networks of a list `cidr_problem` accepted entry by entry."""
    return [ipaddress.ip_network(c, strict=False) for c in cidrs]


def public_addresses(networks: Iterable[Network], version: int) -> int:
    """How many globally routed addresses of IP `version` the networks cover together."""
    covered = list(ipaddress.collapse_addresses(n for n in networks if n.version == version))
    total = sum(n.num_addresses for n in covered)
    for private in _NOT_PUBLIC[version]:
        for network in covered:
            if network.overlaps(private):
                inner = private if network.supernet_of(private) else network
                total -= inner.num_addresses
    return total


def exposure_problem(cidrs: Iterable[object]) -> Optional[str]:
    """Why an allow-list opens too much of the internet (or cannot be read); None when it does not.

    The answer starts with the networks the list covers once collapsed ("0.0.0.0/0: ...")."""
    texts = [str(c) for c in cidrs]
    invalid = [c for c in texts if cidr_problem(c)]
    if invalid:
        return f"{cidr_problem(invalid[0])}"
    networks = parse(texts)
    for version, limit in MAX_PUBLIC_ADDRESSES.items():
        count = public_addresses(networks, version)
        if count > limit:
            share = count / (2 ** (32 if version == 4 else 128))
            covering = ", ".join(str(n) for n in ipaddress.collapse_addresses(
                n for n in networks if n.version == version))
            widest = 8 if version == 4 else 32
            return (f"{covering}: {count:,} public IPv{version} addresses ({share:.1%} of the internet); "
                    f"allow-list networks no wider than a /{widest} together")
    return None
