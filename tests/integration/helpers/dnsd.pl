#!/usr/bin/perl
# A tiny authoritative DNS server for the egress tests (core perl only).
#   dnsd.pl ZONEFILE LOGFILE [BINDADDR]
# Binds BINDADDR (default 127.0.0.1) on an ephemeral port, UDP and, on the
# same port, TCP; prints the port on stdout, then serves until killed.
#
# ZONEFILE, re-read on every query (a test may rewrite it at any time):
#   # comment
#   name TYPE addr[,addr...]          TYPE is A or AAAA; lines add up
#   name A seq:ADDR1|ADDR2|ADDR3      1st query for name+type answers ADDR1,
#                                     2nd ADDR2, then ADDR3 forever (DNS
#                                     rebinding); a step may be a,b list
# Names match case-insensitively, a trailing dot is ignored. Unknown name:
# NXDOMAIN; known name without records of the asked type (or a type other
# than A/AAAA; a bare "name" line makes a name known with no records):
# NOERROR, no answer. TTL 0. Over UDP an answer is cut at 512 bytes (or
# the EDNS size asked for, up to 4096) with TC set (about 30 A or 17 AAAA fit).
# libevent 2.1 (no TCP fallback) fails such an answer as "truncated".
# A sequence restarts when its line in the zone changes.
#
# LOGFILE gets one line per query, "name TYPE" (lowercased, no trailing dot;
# TYPE is A, AAAA or TYPEnn), written before the answer is sent.
use strict;
use warnings;
use IO::Socket::IP;
use IO::Select;
use Socket qw(inet_pton AF_INET AF_INET6 SOCK_STREAM SOCK_DGRAM);

my ($zonefile, $logfile, $bind) = @ARGV;
die "usage: dnsd.pl ZONEFILE LOGFILE [BINDADDR]\n" unless defined $logfile;
$bind //= '127.0.0.1';
$bind =~ s/^\[(.*)\]$/$1/;
$SIG{PIPE} = 'IGNORE';

my $udp = IO::Socket::IP->new(LocalHost => $bind, LocalPort => 0, Proto => 'udp', Type => SOCK_DGRAM)
	or die "dnsd: udp bind $bind: $@\n";
my $port = $udp->sockport;
# TCP on the same port if we can get it (a client falls back to it on TC)
my $tcp = IO::Socket::IP->new(LocalHost => $bind, LocalPort => $port, Proto => 'tcp', Type => SOCK_STREAM,
	Listen => 16, ReuseAddr => 1);
$| = 1;
print "$port\n";

my %TYPES = (1 => 'A', 28 => 'AAAA');
my %seen;   # "name\0TYPE" => [spec, count] for seq: records

sub load_zone {
	my %zone;   # name => { A => { addrs => [...], seq => [[...],...], spec => '...' } }
	open my $z, '<', $zonefile or return \%zone;
	while (my $l = <$z>) {
		$l =~ s/#.*//;
		my ($name, $type, $val) = split ' ', $l;
		next unless defined $name;
		$name = lc $name;
		$name =~ s/\.$//;
		my $r = $zone{$name} //= {};
		next unless defined $type && defined $val;
		$type = uc $type;
		next unless $type eq 'A' || $type eq 'AAAA';
		my $family = $type eq 'A' ? AF_INET : AF_INET6;
		my $e = $r->{$type} //= { addrs => [] };
		my $pack = sub { grep { defined } map { inet_pton($family, $_) } grep { length } split /,/, $_[0] };
		if ($val =~ s/^seq://i) {
			$e->{spec} = $val;
			$e->{seq} = [map { [$pack->($_)] } split /\|/, $val, -1];
		} else {
			push @{ $e->{addrs} }, $pack->($val);
		}
	}
	return \%zone;
}

sub logq {
	my ($line) = @_;
	open my $l, '>>', $logfile or return;
	syswrite $l, "$line\n";
	close $l;
}

# One DNS message in, one out (undef: ignore it). $maxlen: 512 for UDP (more with EDNS).
sub answer {
	my ($q, $maxlen) = @_;
	return undef if length($q) < 12;
	my ($id, $flags, $qd, undef, undef, $ar) = unpack "n6", $q;
	return undef if $flags & 0x8000;   # a response, not a query
	return undef if $qd < 1;
	my $opcode = ($flags >> 11) & 0xf;
	my $rd = $flags & 0x0100;
	# the question name, labels only (a query never compresses it)
	my ($off, @labels) = (12);
	while (1) {
		return undef if $off >= length $q;
		my $len = ord substr $q, $off, 1;
		$off++;
		last if $len == 0;
		return undef if $len > 63 || $off + $len > length $q;
		push @labels, substr $q, $off, $len;
		$off += $len;
	}
	return undef if $off + 4 > length $q;
	my ($qtype, $qclass) = unpack 'n n', substr $q, $off, 4;
	# echoed byte for byte: resolvers (libevent) randomize the case and check it
	my $question = substr $q, 12, $off + 4 - 12;
	my $name = lc join '.', @labels;
	my $tname = $TYPES{$qtype} // "TYPE$qtype";
	# EDNS: an OPT record right after the question raises the UDP limit
	my $opt = "";
	if ($qd == 1 && $ar >= 1 && length($q) >= $off + 4 + 11) {
		my ($root, $otype, $size) = unpack "C n n", substr $q, $off + 4, 5;
		if ($root == 0 && $otype == 41) {
			$opt = "\0" . pack "n n N n", 41, 4096, 0, 0;
			$size = 4096 if $size > 4096;
			$maxlen = $size if $maxlen < $size;
		}
	}
	my $hdr = sub {   # QR AA, RD copied, opcode echoed
		my ($rcode, $an, $tc) = @_;
		pack 'n n n n n n', $id, 0x8000 | 0x0400 | ($opcode << 11) | $rd | ($tc ? 0x0200 : 0) | $rcode, 1, $an, 0, length($opt) ? 1 : 0;
	};
	return $hdr->(4, 0) . $question . $opt if $opcode != 0;   # NOTIMP
	logq("$name $tname");
	my $zone = load_zone();
	return $hdr->(3, 0) . $question . $opt unless exists $zone->{$name};   # NXDOMAIN
	my $e = $zone->{$name}{$tname};
	my @addrs;
	if ($e && ($qclass == 1 || $qclass == 255)) {
		@addrs = @{ $e->{addrs} };
		if ($e->{seq} && @{ $e->{seq} }) {
			my $k = "$name\0$tname";
			$seen{$k} = [$e->{spec}, 0] if !$seen{$k} || $seen{$k}[0] ne $e->{spec};
			my $i = $seen{$k}[1]++;
			$i = $#{ $e->{seq} } if $i > $#{ $e->{seq} };
			push @addrs, @{ $e->{seq}[$i] };
		}
	}
	my ($out, $an, $tc) = ($hdr->(0, 0) . $question . $opt, 0, 0);
	my $rrs = '';
	for my $addr (@addrs) {
		my $rr = pack('n n n N n', 0xc00c, $qtype, 1, 0, length $addr) . $addr;
		if (length($out) + length($rrs) + length($rr) > $maxlen) { $tc = 1; last; }
		$rrs .= $rr;
		$an++;
	}
	return $hdr->(0, $an, $tc) . $question . $rrs . $opt;
}

my $sel = IO::Select->new($udp);
$sel->add($tcp) if $tcp;
my %conn;   # fileno => { sock, buf, last }
while (1) {
	my @ready = $sel->can_read(1);
	for my $s (@ready) {
		if ($s == $udp) {
			my $q;
			my $peer = $udp->recv($q, 65535, 0);
			next unless defined $peer && defined $q;
			my $r = eval { answer($q, 512) };
			$udp->send($r, 0, $peer) if defined $r;
		} elsif ($tcp && $s == $tcp) {
			my $c = $tcp->accept or next;
			$c->blocking(0);
			$conn{ fileno $c } = { sock => $c, buf => '', last => time };
			$sel->add($c);
		} else {
			my $st = $conn{ fileno $s };
			my $n = sysread $s, my $data, 65535;
			if (!$st || !$n) {
				$sel->remove($s);
				delete $conn{ fileno $s };
				close $s;
				next;
			}
			$st->{buf} .= $data;
			$st->{last} = time;
			while (length($st->{buf}) >= 2) {
				my $len = unpack 'n', $st->{buf};
				last if length($st->{buf}) < 2 + $len;
				my $q = substr $st->{buf}, 2, $len;
				substr($st->{buf}, 0, 2 + $len) = '';
				my $r = eval { answer($q, 65535) };
				next unless defined $r;
				my $out = pack('n', length $r) . $r;
				$s->blocking(1);
				syswrite $s, $out;
				$s->blocking(0);
			}
		}
	}
	for my $fd (keys %conn) {   # idle TCP clients are dropped after 10 s
		next if time - $conn{$fd}{last} < 10;
		$sel->remove($conn{$fd}{sock});
		close $conn{$fd}{sock};
		delete $conn{$fd};
	}
}
