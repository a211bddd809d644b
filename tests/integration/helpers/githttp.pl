#!/usr/bin/perl
# One HTTP request on stdin/stdout, answered by git http-backend (CGI): the
# smart HTTP git server for the https tests, behind socat's TLS
# (socat OPENSSL-LISTEN:...,fork EXEC:"githttp.pl ROOT"). Core perl only.
#   githttp.pl PROJECT_ROOT
use strict;
use warnings;
my $root = shift or die "usage: githttp.pl PROJECT_ROOT\n";
binmode STDIN;
binmode STDOUT;
$SIG{ALRM} = sub { exit 0 };
alarm 60;
my $line = <STDIN> // exit 0;
$line =~ s/\r?\n$//;
my ($method, $target) = $line =~ m{^([A-Z]+) (\S+) HTTP/1\.[01]$} or exit 0;
my %h;
while (my $l = <STDIN>) {
	$l =~ s/\r?\n$//;
	last if $l eq '';
	my ($k, $v) = $l =~ /^([^:]+):\s*(.*)$/ or next;
	$h{lc $k} = $v;
}
my $body = '';
if (defined $h{'content-length'}) {
	my $n = $h{'content-length'};
	exit 0 if $n !~ /^\d+$/ || $n > 64 * 1024 * 1024;
	while (length($body) < $n) {
		my $r = read(STDIN, $body, $n - length($body), length($body));
		last unless $r;
	}
} elsif (($h{'transfer-encoding'} // '') =~ /chunked/i) {
	while (my $sz = <STDIN>) {
		$sz =~ s/\r?\n$//;
		my $n = hex($sz);
		last if $n == 0;
		my $chunk = '';
		read(STDIN, $chunk, $n);
		$body .= $chunk;
		<STDIN>;
	}
	while (my $t = <STDIN>) { last if $t =~ /^\r?\n$/ }
}
my ($path, $query) = split /\?/, $target, 2;
local %ENV = (
	PATH => '/usr/bin:/bin', GIT_PROJECT_ROOT => $root, GIT_HTTP_EXPORT_ALL => 1,
	REQUEST_METHOD => $method, PATH_INFO => $path, QUERY_STRING => $query // '',
	CONTENT_TYPE => $h{'content-type'} // '', CONTENT_LENGTH => length($body),
	REMOTE_USER => 'agent', REMOTE_ADDR => '127.0.0.1', GIT_HTTP_MAX_REQUEST_BUFFER => '64M',
	HTTP_GIT_PROTOCOL => $h{'git-protocol'} // '',
);
pipe(my $in_r, my $in_w) or die;
pipe(my $out_r, my $out_w) or die;
my $pid = fork // die;
if (!$pid) {
	open STDIN, '<&', $in_r or die;
	open STDOUT, '>&', $out_w or die;
	close $in_w;
	close $out_r;
	exec '/usr/lib/git-core/git-http-backend' or exit 127;
}
close $in_r;
close $out_w;
binmode $in_w;
binmode $out_r;
print $in_w $body;
close $in_w;
local $/;
my $out = <$out_r> // '';
waitpid $pid, 0;
my ($head, $rest) = split /\r?\n\r?\n/, $out, 2;
$rest //= '';
my $status = '200 OK';
my @hdr;
for my $l (split /\r?\n/, $head // '') {
	if ($l =~ /^Status:\s*(.*)$/i) { $status = $1 } else { push @hdr, $l }
}
print "HTTP/1.1 $status\r\n", map({ "$_\r\n" } @hdr), "Content-Length: " . length($rest) . "\r\nConnection: close\r\n\r\n", $rest;
