#!/usr/bin/perl
# A tiny HTTP/1.0 server for the browser tests, on 127.0.0.1 only (core
# perl, no modules to install). Serves files from a directory; /hang holds
# the response open forever (a page that never finishes loading). Prints
# the port it bound on stdout, then serves until killed.
#   httpd.pl DIR [BINDADDR]   (default 127.0.0.1)
use strict;
use warnings;
use IO::Socket::INET;
my $root = shift or die "usage: httpd.pl DIR [BINDADDR]\n";
my $bind = shift // '127.0.0.1';
my $srv = IO::Socket::INET->new(LocalAddr => $bind, LocalPort => 0, Listen => 64, ReuseAddr => 1, Proto => 'tcp')
	or die "listen: $!\n";
$| = 1;
print $srv->sockport(), "\n";
$SIG{CHLD} = 'IGNORE';
while (my $c = $srv->accept) {
	my $pid = fork;
	next if !defined $pid;
	if ($pid) { close $c; next; }
	my $line = <$c> // '';
	while (my $h = <$c>) { last if $h =~ /^\r?\n$/; }
	my ($path) = $line =~ m{^GET (/[^ ?]*)};
	$path //= '/';
	if ($path eq '/hang') {
		print $c "HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n<html><body>loading";
		# gone by itself even if the test that started us is killed
		sleep 30;
		exit 0;
	}
	$path = '/index.html' if $path eq '/';
	$path =~ s{\.\.}{}g;
	my $file = "$root$path";
	if (open my $f, '<', $file) {
		local $/;
		my $body = <$f>;
		my $type = $file =~ /\.html$/ ? 'text/html' : 'application/octet-stream';
		print $c "HTTP/1.0 200 OK\r\nContent-Type: $type\r\nContent-Length: " . length($body) . "\r\n\r\n$body";
	} else {
		print $c "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n";
	}
	exit 0;
}
