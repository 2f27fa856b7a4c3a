"""Where a message may go. A webhook is http(s) to a public address: never a link-local or cloud
metadata address (a server-side request forgery would read the host's credentials), nor a
private or loopback one unless ``EVIDENCE_WEBHOOK_ALLOW_PRIVATE`` (a force's own systems on its
own network). Checked when the subscription is made and again before every send (a name can be
pointed somewhere else later). An email address is one mailbox, checked by a maintained library."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email

from evidence.errors import InvalidRequest

__all__ = ["check_email", "check_webhook"]

METADATA = {ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "169.254.170.2")}


NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
V4_COMPATIBLE = ipaddress.ip_network("::/96")


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries and reaches (mapped ::ffff:a.b.c.d, the old compatible
    ::a.b.c.d, NAT64 64:ff9b::a.b.c.d, 6to4 2002:AABB:CCDD::, Teredo's client): a loopback or
    metadata address written in IPv6 is still that address."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in NAT64[0] or (ip in V4_COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _refused(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, allow_private: bool) -> str | None:
    if isinstance(ip, ipaddress.IPv6Address) and ip in NAT64[1]:
        return "a local-use NAT64 address (where its IPv4 address sits varies)"
    if isinstance(ip, ipaddress.IPv6Address) and (inner := _embedded_v4(ip)) is not None:
        return _refused(inner, allow_private)
    if ip in METADATA:
        return "a cloud metadata address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast or ip.is_unspecified:
        return "not a host address"
    if ip.is_private or ip.is_loopback:
        return None if allow_private else "a private or loopback address (EVIDENCE_WEBHOOK_ALLOW_PRIVATE=true allows it)"
    if not ip.is_global:  # shared address space (100.64/10), site-local, reserved, documentation
        return "not a public address"
    return None


def check_webhook(url: str, allow_private: bool, resolve: bool = True) -> str:
    """The URL, or InvalidRequest saying why it cannot be a webhook."""
    if len(url) > 500 or any(ord(c) < 33 for c in url):
        raise InvalidRequest("A webhook URL is at most 500 characters, without spaces or control characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequest("A webhook URL starts with http:// or https:// and names a host")
    if parts.username or parts.password:
        raise InvalidRequest("A webhook URL carries no user name or password (the signature authenticates us)")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise InvalidRequest("The webhook URL's port is not a number from 1 to 65535") from exc
    host = parts.hostname
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        if not resolve:
            return url
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise InvalidRequest(f"The webhook's host {host} cannot be found") from exc
        addresses = [ipaddress.ip_address(str(i[4][0]).split("%")[0]) for i in infos]
    for ip in addresses:
        why = _refused(ip, allow_private)
        if why:
            raise InvalidRequest(f"The webhook's host {host} is {why}: refused")
    return url


def check_email(address: str) -> str:
    """The address (normalised), or InvalidRequest."""
    if len(address) > 254 or "\n" in address or "\r" in address:
        raise InvalidRequest("That is not an email address")
    try:
        return str(validate_email(address, check_deliverability=False).normalized)
    except EmailNotValidError as exc:  # its own words are a developer's ("It should have a period")
        raise InvalidRequest("That is not an email address: enter one in the correct format, like name@example.com"
                             ) from exc
