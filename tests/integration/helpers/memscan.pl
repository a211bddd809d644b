#!/usr/bin/perl
# Search a live process's memory for secrets (core perl only).
#   memscan.pl PID NEEDLEFILE
# NEEDLEFILE: one needle a line, hex-encoded (any bytes); blank lines and
# lines starting with # are skipped. NEEDLEINDEX is the 0-based number of
# the needle's line in the file.
# Reads every readable mapping in /proc/PID/maps (not [vvar], [vvar_vclock],
# [vsyscall]) through /proc/PID/mem and prints one line per hit:
#   PID ADDR MAPPING NEEDLEINDEX
# ADDR is the hit's address (0x...); MAPPING is the mapping's path or
# [heap]/[stack]/..., [anon] when it has none (spaces shown as \040).
# Exit 0: no hits; 1: hits; 2: error (bad arguments, /proc/PID/mem can't be
# opened or no mapping could be read at all). Unreadable pages are skipped.
# Needs ptrace rights over PID: root (CAP_SYS_PTRACE) for another uid's or a
# non-dumpable process. The target is not stopped: this is a snapshot
# taken while it runs. Note that a needle given on the target's command
# line or in its environment is found in its [stack].
# Mappings larger than 4 GiB are skipped and named on stderr: only a
# sanitizer's shadow memory is that large here, and it holds poison
# states, never a copy of the program's data.
use strict;
use warnings;
no warnings 'portable';
use Fcntl qw(O_RDONLY SEEK_SET);

my ($pid, $needlefile) = @ARGV;
sub fail { print STDERR "memscan: @_\n"; exit 2; }
fail("usage: memscan.pl PID NEEDLEFILE") unless defined $needlefile && $pid =~ /^\d+$/;

open my $nf, '<', $needlefile or fail("$needlefile: $!");
my (@needles, @index);
my $line = -1;
while (my $l = <$nf>) {
	$line++;
	$l =~ s/\s+//g;
	next if $l eq '' || $l =~ /^#/;
	fail("$needlefile line " . ($line + 1) . ": not hex") if $l !~ /^(?:[0-9A-Fa-f]{2})+$/;
	push @needles, pack 'H*', $l;
	push @index, $line;
}
close $nf;
fail("$needlefile: no needles") unless @needles;
my $maxlen = 0;
for (@needles) { $maxlen = length if length > $maxlen; }

open my $maps, '<', "/proc/$pid/maps" or fail("/proc/$pid/maps: $!");
my @regions;
while (my $l = <$maps>) {
	chomp $l;
	my ($lo, $hi, $perm, $name) = $l =~ /^([0-9a-f]+)-([0-9a-f]+)\s+(\S+)\s+\S+\s+\S+\s+\S+\s*(.*)$/ or next;
	next unless substr($perm, 0, 1) eq 'r';
	next if $name =~ /^\[(?:vvar|vvar_vclock|vsyscall)\]$/;
	$name = '[anon]' if $name eq '';
	$name =~ s/ /\\040/g;
	if (hex($hi) - hex($lo) > (4 << 30)) {
		printf STDERR "memscan: skipped %s-%s %s (%d GiB: sanitizer shadow)\n", $lo, $hi, $name,
			(hex($hi) - hex($lo)) >> 30;
		next;
	}
	push @regions, [hex $lo, hex $hi, $name];
}
close $maps;
sysopen my $mem, "/proc/$pid/mem", O_RDONLY or fail("/proc/$pid/mem: $!");

my $CHUNK = 1 << 20;
my $PAGE = 4096;
my ($hits, $readable) = (0, 0);
$| = 1;
for my $r (@regions) {
	my ($lo, $hi, $name) = @$r;
	my $tail = '';   # the last maxlen-1 bytes before $addr, for hits across chunks
	my $addr = $lo;
	while ($addr < $hi) {
		my $want = $hi - $addr < $CHUNK ? $hi - $addr : $CHUNK;
		my $data = readat($addr, $want);
		if (!defined $data) {   # a hole somewhere in this chunk: go page by page
			my $end = $addr + $want;
			while ($addr < $end) {
				my $page = readat($addr, $PAGE);
				if (defined $page) {
					scan($tail, $page, $addr, $name);
					$tail = keep($tail . $page);
				} else {
					$tail = '';
				}
				$addr += $PAGE;
			}
			next;
		}
		scan($tail, $data, $addr, $name);
		$tail = keep($tail . $data);
		$addr += $want;
	}
}
fail("nothing of process $pid could be read") if !$readable && @regions;
exit($hits ? 1 : 0);

sub readat {
	my ($addr, $len) = @_;
	sysseek($mem, $addr, SEEK_SET) or return undef;
	my $buf = '';
	while (length $buf < $len) {
		my $n = sysread $mem, $buf, $len - length $buf, length $buf;
		return undef unless $n;
	}
	$readable = 1;
	return $buf;
}

sub keep {
	my ($s) = @_;
	return '' if $maxlen <= 1;
	return length $s > $maxlen - 1 ? substr($s, -($maxlen - 1)) : $s;
}

# hits in $tail.$data that end inside $data (those within $tail were seen)
sub scan {
	my ($tail, $data, $addr, $name) = @_;
	my $buf = $tail . $data;
	my $base = $addr - length $tail;
	for my $i (0 .. $#needles) {
		my $n = $needles[$i];
		my $p = index $buf, $n;
		while ($p >= 0) {
			if ($p + length $n > length $tail) {
				printf "%d 0x%x %s %d\n", $pid, $base + $p, $name, $index[$i];
				$hits++;
			}
			$p = index $buf, $n, $p + 1;
		}
	}
}
