#!/usr/bin/perl
# An HTTP/1.1 API server for the http/egress tests (core perl only).
#   apisrv.pl BINDADDR LOGFILE
# BINDADDR is HOST, HOST:PORT or [V6]:PORT; no port (or 0) is ephemeral.
# Prints the port it bound on stdout, then serves until killed: a fork per
# connection, one request per connection, "Connection: close" always.
# Every request is appended to LOGFILE as the raw bytes received (request
# line, headers, body as sent, chunked framing included), then a line
# "----". Bodies: Content-Length or chunked, at most 32 MiB (else 413).
#
#   /echo                 any method: JSON {"method","path" (request target
#                         as sent, query included),"headers" {lowercased name:
#                         value; repeats joined by ", "},"body"}. The JSON is
#                         ASCII: a UTF-8 body shows as \uXXXX, a body that is
#                         not UTF-8 one \u00XX per byte.
#   /bytes?n=N            N bytes of 'a' (N <= 64 MiB), text/plain
#   /redirect?to=URL&code=302   Location: URL (percent-decoded), code 3xx
#   /status/NNN           that status (200-599), small text body
#   /slow?ms=N            sleep N ms, then 200 "slow"
#   /reflect?x=V          body: V percent-decoded; header X-Reflect: V raw
#   /binary               256 bytes 0x00..0xff, application/octet-stream
#   /hang                 200 headers, then nothing for 30 s, then close
#   anything else         404
# Query values are percent-decoded only ('+' stays '+'). HEAD gets headers
# only. A child gives up after 60 s (alarm), so none outlives a killed test.
use strict;
use warnings;
use IO::Socket::IP;
use Socket qw(SOCK_STREAM);
use Fcntl qw(:flock);

my ($bind, $logfile) = @ARGV;
die "usage: apisrv.pl BINDADDR LOGFILE\n" unless defined $logfile;
my ($host, $port) = ($bind, 0);
if ($bind =~ /^\[(.*)\](?::(\d+))?$/) { ($host, $port) = ($1, $2 // 0); }
elsif ($bind =~ /^([^:]*):(\d+)$/) { ($host, $port) = ($1, $2); }
my $srv = IO::Socket::IP->new(LocalHost => $host, LocalPort => $port, Type => SOCK_STREAM, Proto => 'tcp',
	Listen => 128, ReuseAddr => 1) or die "apisrv: listen $bind: $@\n";
$| = 1;
print $srv->sockport, "\n";
$SIG{CHLD} = 'IGNORE';
$SIG{PIPE} = 'IGNORE';

my $MAXBODY = 32 << 20;
my $MAXHEAD = 1 << 20;
my %REASON = (200 => 'OK', 201 => 'Created', 202 => 'Accepted', 204 => 'No Content', 206 => 'Partial Content',
	301 => 'Moved Permanently', 302 => 'Found', 303 => 'See Other', 304 => 'Not Modified',
	307 => 'Temporary Redirect', 308 => 'Permanent Redirect', 400 => 'Bad Request', 401 => 'Unauthorized',
	403 => 'Forbidden', 404 => 'Not Found', 405 => 'Method Not Allowed', 408 => 'Request Timeout',
	413 => 'Content Too Large', 418 => "I'm a teapot", 429 => 'Too Many Requests', 431 => 'Request Header Fields Too Large',
	500 => 'Internal Server Error', 502 => 'Bad Gateway', 503 => 'Service Unavailable', 504 => 'Gateway Timeout');

sub writeall {
	my ($c, $data) = @_;
	my $off = 0;
	while ($off < length $data) {
		my $n = syswrite $c, $data, length($data) - $off, $off;
		exit 0 unless $n;   # the client went away
		$off += $n;
	}
}

sub logreq {
	my ($raw) = @_;
	open my $l, '>>', $logfile or return;
	flock $l, LOCK_EX;
	$raw .= "\n" unless $raw =~ /\n\z/;
	my $data = $raw . "----\n";
	my $off = 0;
	while ($off < length $data) {
		my $n = syswrite $l, $data, length($data) - $off, $off;
		last unless $n;
		$off += $n;
	}
	close $l;
}

sub pdecode {
	my ($s) = @_;
	$s =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge;
	return $s;
}

# strict UTF-8 (no overlongs, surrogates or code points past U+10FFFF)
sub is_utf8 {
	my ($s) = @_;
	pos($s) = 0;
	while ($s =~ /\G(?:[\x00-\x7f]+|[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}
		|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}|\xf4[\x80-\x8f][\x80-\xbf]{2})/gcx) { }
	return (pos($s) // 0) == length $s;
}

my %JESC = map { chr($_) => sprintf("\\u%04x", $_) } 0 .. 0x1f, 0x7f .. 0xff;
@JESC{"\"", "\\", "\n", "\r", "\t", "\b", "\f"} = ("\\\"", "\\\\", "\\n", "\\r", "\\t", "\\b", "\\f");
sub jstr { # bytes -> a JSON string literal, pure ASCII
	my ($s) = @_;
	utf8::decode($s) if is_utf8($s);   # else: one code point per byte
	$s =~ s/([\x00-\x1f"\\\x7f-\xff])/$JESC{$1}/g;
	$s =~ s{([^\x00-\xff])}{
		my $o = ord $1;
		$o < 0x10000 ? sprintf("\\u%04x", $o)
			: sprintf("\\u%04x\\u%04x", 0xd800 + (($o - 0x10000) >> 10), 0xdc00 + (($o - 0x10000) & 0x3ff))
	}ge;
	return qq{"$s"};
}

sub handle {
	my ($c) = @_;
	my $buf = '';
	my $end;
	while (1) {
		if ($buf =~ /\r?\n\r?\n/g) { $end = pos $buf; last; }
		last if length $buf > $MAXHEAD;
		my $n = sysread $c, $buf, 65536, length $buf;
		last unless $n;
	}
	my $head = defined $end ? substr($buf, 0, $end) : $buf;
	my $rest = defined $end ? substr($buf, $end) : '';
	my $method = '';
	my $head_only = 0;
	my $respond = sub {
		my ($code, $hdrs, $body, $nolength) = @_;
		my $out = "HTTP/1.1 $code " . ($REASON{$code} // 'Status') . "\r\n";
		for (my $i = 0; $i < @$hdrs; $i += 2) { $out .= "$hdrs->[$i]: $hdrs->[$i+1]\r\n"; }
		$out .= "Content-Length: " . length($body) . "\r\n" unless $nolength;
		$out .= "Connection: close\r\n\r\n";
		$out .= $body unless $head_only;
		writeall($c, $out);
		shutdown $c, 1;
	};
	my $text = sub { my ($code, $body) = @_; $respond->($code, ['Content-Type', 'text/plain'], $body); };
	if (!defined $end) {
		logreq($head) if length $head;
		$text->(length $head > $MAXHEAD ? 431 : 400, "bad request\n") if length $head;
		return;
	}
	my ($target, $version);
	($method, $target, $version) = $head =~ m{^([!#\$%&'*+.^_`|~0-9A-Za-z-]+) (\S+) (HTTP/\d\.\d)\r?\n};
	if (!defined $method) { $method = ''; logreq($head); $text->(400, "bad request line\n"); return; }
	$head_only = $method eq 'HEAD';
	my (%h, @order);
	for my $line (split /\r?\n/, $head) {
		next unless $line =~ /^([^:\s]+):[ \t]*(.*?)[ \t]*$/;
		my $k = lc $1;
		push @order, $k unless exists $h{$k};
		$h{$k} = exists $h{$k} ? "$h{$k}, $2" : $2;
	}
	# the body, as sent
	my $need = sub {   # have $rest hold at least N bytes, false at EOF
		my ($n) = @_;
		while (length $rest < $n) {
			my $r = sysread $c, $rest, 65536, length $rest;
			return 0 unless $r;
		}
		return 1;
	};
	my $continue = sub {
		writeall($c, "HTTP/1.1 100 Continue\r\n\r\n")
			if ($h{expect} // '') =~ /100-continue/i && $version eq 'HTTP/1.1' && length($rest) == 0;
	};
	my ($body, $rawbody) = ('', '');
	if (($h{'transfer-encoding'} // '') =~ /chunked/i) {
		$continue->();
		my $pos = 0;
		while (1) {
			my $nl;
			while (($nl = index $rest, "\n", $pos) < 0) {
				if (length($rest) - $pos > 4096 || !$need->(length($rest) + 1)) {
					logreq($head . $rest); $text->(400, "bad chunk\n"); return;
				}
			}
			my $line = substr $rest, $pos, $nl + 1 - $pos;
			$pos = $nl + 1;
			my ($size) = $line =~ /^([0-9A-Fa-f]+)/;
			if (!defined $size || length $size > 8) { logreq($head . $rest); $text->(400, "bad chunk\n"); return; }
			$size = hex $size;
			if ($size == 0) {   # trailers up to an empty line
				while (1) {
					while (($nl = index $rest, "\n", $pos) < 0) {
						if (!$need->(length($rest) + 1)) { logreq($head . $rest); $text->(400, "bad chunk\n"); return; }
					}
					my $t = substr $rest, $pos, $nl + 1 - $pos;
					$pos = $nl + 1;
					last if $t =~ /^\r?\n$/;
				}
				last;
			}
			if (length($body) + $size > $MAXBODY) { logreq($head); $text->(413, "too large\n"); return; }
			if (!$need->($pos + $size + 2)) { logreq($head . $rest); $text->(400, "short chunk\n"); return; }
			$body .= substr $rest, $pos, $size;
			$pos += $size;
			$pos += substr($rest, $pos, 2) eq "\r\n" ? 2 : substr($rest, $pos, 1) eq "\n" ? 1 : 0;
		}
		$rawbody = substr $rest, 0, $pos;
	} elsif (defined $h{'content-length'}) {
		my @cl = split /\s*,\s*/, $h{'content-length'};
		my %u = map { $_ => 1 } @cl;
		if (keys %u != 1 || $cl[0] !~ /^\d{1,12}$/) { logreq($head); $text->(400, "bad content-length\n"); return; }
		my $cl = $cl[0] + 0;
		if ($cl > $MAXBODY) { logreq($head); $text->(413, "too large\n"); return; }
		$continue->() if $cl > 0;
		if (!$need->($cl)) { logreq($head . $rest); $text->(400, "short body\n"); return; }
		$body = $rawbody = substr $rest, 0, $cl;
	}
	logreq($head . $rawbody);

	my $path = $target;   # absolute-form (as to a proxy): route on its path
	if ($target =~ m{^[A-Za-z][A-Za-z0-9+.-]*://[^/?]*(.*)$}s) { $path = $1; $path = "/$path" unless $path =~ m{^/}; }
	my ($p, $qs) = split /\?/, $path, 2;
	my (%q, %qraw);
	for my $kv (split /&/, $qs // '') {
		my ($k, $v) = split /=/, $kv, 2;
		$k = pdecode($k);
		next if exists $q{$k};
		$qraw{$k} = $v // '';
		$q{$k} = pdecode($v // '');
	}

	if ($p eq '/echo') {
		my $json = '{"method":' . jstr($method) . ',"path":' . jstr($target) . ',"headers":{'
			. join(',', map { jstr($_) . ':' . jstr($h{$_}) } @order) . '},"body":' . jstr($body) . "}\n";
		$respond->(200, ['Content-Type', 'application/json'], $json);
	} elsif ($p eq '/bytes') {
		my $n = $q{n} // '';
		if ($n !~ /^\d{1,9}$/ || $n > (64 << 20)) { $text->(400, "n must be 0..67108864\n"); return; }
		writeall($c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: $n\r\nConnection: close\r\n\r\n");
		return if $head_only;
		my $chunk = 'a' x (1 << 20);
		while ($n > 0) {
			my $k = $n < length $chunk ? $n : length $chunk;
			writeall($c, $k == length $chunk ? $chunk : substr $chunk, 0, $k);
			$n -= $k;
		}
		shutdown $c, 1;
	} elsif ($p eq '/redirect') {
		my $code = $q{code} // 302;
		if ($code !~ /^3\d\d$/) { $text->(400, "code must be 3xx\n"); return; }
		my $to = $q{to};
		if (!defined $to || $to =~ /[\r\n\0]/) { $text->(400, "to= missing or has CR/LF/NUL\n"); return; }
		$respond->($code, ['Location', $to, 'Content-Type', 'text/plain'], "redirect to $to\n");
	} elsif ($p =~ m{^/status/(\d{3})$} && $1 >= 200 && $1 <= 599) {
		my $code = $1;
		if ($code == 204 || $code == 304) { $respond->($code, [], '', 1); }
		else { $text->($code, "status $code\n"); }
	} elsif ($p eq '/slow') {
		my $ms = $q{ms} // 0;
		$ms = 0 unless $ms =~ /^\d{1,9}$/;
		select undef, undef, undef, $ms / 1000;
		$text->(200, 'slow');
	} elsif ($p eq '/reflect') {
		$respond->(200, ['Content-Type', 'text/plain', 'X-Reflect', $qraw{x} // ''], $q{x} // '');
	} elsif ($p eq '/binary') {
		$respond->(200, ['Content-Type', 'application/octet-stream'], join '', map { chr } 0 .. 255);
	} elsif ($p eq '/hang') {
		writeall($c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n");
		sleep 30;
	} else {
		$text->(404, "not found\n");
	}
}

while (1) {
	my $c = $srv->accept or next;
	my $pid = fork;
	if (!defined $pid) { close $c; next; }
	if ($pid) { close $c; next; }
	close $srv;
	alarm 60;
	$SIG{CHLD} = 'DEFAULT';
	handle($c);
	exit 0;
}
