#!/usr/bin/python3
"""Write the starting inputs of the fuzz targets (tests/fuzz/README).

    seeds.py OUTDIR     -> OUTDIR/query, OUTDIR/reply, OUTDIR/dnscrypt

Well-formed messages made with dnspython: queries with and without EDNS,
replies with CNAME chains, negative answers with SOA, EDE options,
compression, the sinkhole forms the guard knows. libFuzzer mutates from
these; the committed corpus (tests/fuzz/corpus) is what it kept."""
import base64
import hashlib
import os
import struct
import sys

import dns.edns
import dns.flags
import dns.message
import dns.rcode
import dns.rrset

out = sys.argv[1]


def put(kind, data):
    d = os.path.join(out, kind)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


def q(name, rdtype="A", **kw):
    return dns.message.make_query(name, rdtype, **kw)


queries = [
    q("www.example.com"),
    q("Download.WindowsUpdate.com", "AAAA", use_edns=0, payload=4096, want_dnssec=True),
    q("ctldl.windowsupdate.com", "TXT", use_edns=0, payload=512),
    q(".", "NS"),
    q("a." * 60 + "x", "A"),
]
for m in queries:
    put("query", m.to_wire())
notify = q("example.com", "SOA")
notify.set_opcode(dns.opcode.NOTIFY)
put("query", notify.to_wire())


def reply(name, rdtype, records, rcode=0, edns=None, ede=None, authority=()):
    m = q(name, rdtype, use_edns=0 if (edns or ede is not None) else None)
    r = dns.message.make_response(m)
    r.set_rcode(rcode)
    for rr in records:
        r.answer.append(dns.rrset.from_text(*rr))
    for rr in authority:
        r.authority.append(dns.rrset.from_text(*rr))
    if ede is not None:
        r.use_edns(0, options=[dns.edns.EDEOption(ede)])
    return r.to_wire()


replies = [
    reply("www.example.com", "A", [("www.example.com.", 300, "IN", "A", "192.0.2.1", "192.0.2.2")]),
    reply("download.windowsupdate.com", "A", [
        ("download.windowsupdate.com.", 3600, "IN", "CNAME", "wu.azureedge.net."),
        ("wu.azureedge.net.", 60, "IN", "CNAME", "wu.ec.azureedge.net."),
        ("wu.ec.azureedge.net.", 20, "IN", "A", "93.184.221.240")]),
    reply("download.windowsupdate.com", "AAAA", [
        ("download.windowsupdate.com.", 300, "IN", "AAAA", "2606:2800:11f:17a5::1")]),
    reply("ctldl.windowsupdate.com", "A", [("ctldl.windowsupdate.com.", 10, "IN", "A", "0.0.0.0")]),
    reply("ctldl.windowsupdate.com", "A", [], rcode=dns.rcode.NXDOMAIN, authority=[
        ("windowsupdate.com.", 300, "IN", "SOA", "ns1.x. h.x. 1 2 3 4 60")]),
    reply("ctldl.windowsupdate.com", "A", [], rcode=dns.rcode.NXDOMAIN, ede=17),
    reply("ctldl.windowsupdate.com", "A", [], rcode=dns.rcode.REFUSED),
    reply("ctldl.windowsupdate.com", "A", [], rcode=dns.rcode.SERVFAIL, ede=22),
    reply("ctldl.windowsupdate.com", "A", [("ctldl.windowsupdate.com.", 300, "IN", "CNAME", ".")]),
    reply("ctldl.windowsupdate.com", "HINFO", [
        ("ctldl.windowsupdate.com.", 1, "IN", "HINFO", '"This query has been locally blocked" "by dnscrypt-proxy"')]),
    reply("example.com", "TXT", [("example.com.", 300, "IN", "TXT", '"v=spf1 -all"', '"' + "x" * 200 + '"')]),
    reply("example.com", "A", [], authority=[("example.com.", 300, "IN", "SOA", "ns1.x. h.x. 1 2 3 4 300")]),
]
for w in replies:
    for sel in (0, 1, 2, 0x49, 0xd2):
        put("reply", bytes([sel, 128]) + w)
    put("reply", bytes([0, 255]) + w + w)

# dnscrypt: mode 0 TXT replies, 1 signed-cert bodies (+ sealed plaintext), 2 stamps, 3 forged
cert_like = b"DNSC\x00\x02\x00\x00" + bytes(64) + bytes(range(32)) + b"q6fnvWj8" + struct.pack(">III", 1, 0, 0xffffffff)
txt = dns.message.make_response(q("2.dnscrypt-cert.example.com", "TXT"))
txt.answer.append(dns.rrset.from_text("2.dnscrypt-cert.example.com.", 300, "IN", "TXT",
                                      '"' + "".join("\\%03d" % b for b in cert_like) + '"'))
put("dnscrypt", b"\x00" + txt.to_wire())
dnsmsg = replies[1]
body = bytes(range(1, 33)) + b"q6fnvWj8" + struct.pack(">III", 7, 0, 0xffffffff)
pad = b"\x80" + bytes((-(len(dnsmsg) + 1)) % 64)
put("dnscrypt", b"\x01\x00" + body[1:] + dnsmsg + pad)
put("dnscrypt", b"\x01\x01" + body[1:] + dnsmsg + pad)
put("dnscrypt", b"\x01\x01" + body[1:] + dnsmsg + b"\x01")
stamp = bytes([1]) + struct.pack("<Q", 7) + bytes([len(b"9.9.9.12:8443")]) + b"9.9.9.12:8443" + \
    bytes([32]) + bytes(range(32)) + bytes([len(b"2.dnscrypt-cert.quad9.net")]) + b"2.dnscrypt-cert.quad9.net"
put("dnscrypt", b"\x02sdns://" + base64.urlsafe_b64encode(stamp).rstrip(b"="))
stamp6 = bytes([1]) + struct.pack("<Q", 0) + bytes([len(b"[::1]")]) + b"[::1]" + \
    bytes([32]) + bytes(32) + bytes([3]) + b"a.b"
put("dnscrypt", b"\x02sdns://" + base64.urlsafe_b64encode(stamp6).rstrip(b"="))
put("dnscrypt", b"\x03r6fnvWj8" + bytes(24) + bytes(64))
