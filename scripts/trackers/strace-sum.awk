# strace-sum.awk - user-space memory figure from an strace log.
#
# Input: the output of `strace -f -e trace=mmap,brk,shmget` (with or without
# the pid prefix that -f adds, "1234  " in -o files or "[pid 1234] " on
# stderr). Split calls ("<unfinished ...>" / "<... mmap resumed>") are joined.
#
# Figure (the one the original DATA.csv reports for user space):
#   sum of lengths of successful mmap calls
#   + every growth of the program break: each brk return value above the
#     previous one seen for that process (the first brk, normally the
#     initial brk(NULL), only sets the starting break)
#   + sizes of successful shmget calls
#
# Output: one line
#   user=U mmap=M mmap_calls=N brk=B shm=S processes=P

function result(s,    r) {
	# text after the last " = " up to the next space
	r = s
	sub(/.*\) *= */, "", r)
	sub(/ .*/, "", r)
	return r
}

function failed(r) {
	return r == "?" || r ~ /^-[0-9]/
}

function hex(s,    i, c, v) {
	v = 0
	s = tolower(s)
	sub(/^0x/, "", s)
	for (i = 1; i <= length(s); i++) {
		c = index("0123456789abcdef", substr(s, i, 1))
		if (c == 0) break
		v = v * 16 + (c - 1)
	}
	return v
}

function num(s) {
	if (s ~ /^0x/) return hex(s)
	return s + 0
}

function arg(s, n,    a, parts) {
	# n-th argument (1-based) of "name(a, b, c...": arguments of mmap,
	# brk and shmget never contain commas themselves.
	a = s
	sub(/^[^(]*\(/, "", a)
	split(a, parts, /, */)
	return parts[n]
}

function account(p, call, args, ret,    len, cur) {
	if (call == "mmap") {
		if (failed(ret)) return
		len = num(arg(args, 2))
		mmap += len
		mmap_calls++
	} else if (call == "brk") {
		if (failed(ret)) return
		cur = num(ret)
		if ((p in prev) && cur > prev[p]) brk += cur - prev[p]
		prev[p] = cur
	} else if (call == "shmget") {
		if (failed(ret)) return
		shm += num(arg(args, 2))
	}
}

BEGIN { mmap = 0; mmap_calls = 0; brk = 0; shm = 0 }

{
	line = $0
	p = "main"
	if (match(line, /^\[pid +[0-9]+\] /)) {
		p = substr(line, 6, RLENGTH - 7) + 0
		line = substr(line, RLENGTH + 1)
	} else if (match(line, /^[0-9]+ +/)) {
		p = substr(line, 1, RLENGTH) + 0
		line = substr(line, RLENGTH + 1)
	}
	seen[p] = 1

	if (line ~ /^<\.\.\. [a-z0-9_]+ resumed>/) {
		call = line
		sub(/^<\.\.\. /, "", call)
		sub(/ resumed>.*/, "", call)
		if ((p, call) in pending) {
			account(p, call, pending[p, call], result(line))
			delete pending[p, call]
		}
		next
	}
	if (line !~ /^(mmap|brk|shmget)\(/) next
	call = line
	sub(/\(.*/, "", call)
	if (line ~ /<unfinished \.\.\.>$/) {
		pending[p, call] = line
		next
	}
	account(p, call, line, result(line))
}

END {
	n = 0
	for (p in seen) n++
	printf "user=%.0f mmap=%.0f mmap_calls=%d brk=%.0f shm=%.0f processes=%d\n", \
		mmap + brk + shm, mmap, mmap_calls, brk, shm, n
}
