#!/usr/bin/env bash
# t-diff-dns: translation validation of koff-link on samples/dns.  The XDP
# program koff-link writes must agree with the native handle_request() on
# the sample's requests, 300 mutations of them and 300 random byte strings
# (tests/koffdiff.c: same verdict, byte-identical replies, untouched frames
# on XDP_PASS, koff_stats consistent), and fall back on at most 10% of the
# file's requests: the plain queries must be served in XDP.
# Each request travels in every frame kind the XDP entry answers: IPv4,
# IPv6, one 802.1Q tag, 802.1ad + 802.1Q (koffdiff --frames; the replies
# keep the tags, IPv6 replies carry a valid UDP checksum).
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || koff_skip "needs root to load and test-run BPF programs"
cd "$KOFF_ROOT"
koff_diff_sample dns 5353 10 v4,v6,vlan4,vlan6,qinq4,qinq6
