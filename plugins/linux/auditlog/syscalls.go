package auditlog

// op is what a syscall means to stagewatch.
type op uint8

const (
	opNone op = iota
	opExec
	opOpen  // open/openat: flags in an argument
	opOpen2 // openat2: flags behind a pointer, only nametype tells
	opCreat
	opRename
	opLink
	opUnlink
	opMkdir // no event; teaches the assembler directory paths
)

// call describes one syscall: what it does and where its arguments are.
type call struct {
	op op
	// flagsArg is the argument index holding open flags, -1 if none.
	flagsArg int
	// dirfdArgs are the argument indexes of the directory fds that relative
	// names are resolved against (old, new), -1 for calls without one.
	oldDirfd, newDirfd int
}

// Audit arch values (AUDIT_ARCH_* in linux/audit.h).
const (
	ArchX8664   = 0xc000003e
	ArchI386    = 0x40000003
	ArchAArch64 = 0xc00000b7
)

var (
	execCall     = call{op: opExec, flagsArg: -1, oldDirfd: -1, newDirfd: -1}
	execatCall   = call{op: opExec, flagsArg: -1, oldDirfd: 0, newDirfd: 0}
	openCall     = call{op: opOpen, flagsArg: 1, oldDirfd: -1, newDirfd: -1}
	openatCall   = call{op: opOpen, flagsArg: 2, oldDirfd: 0, newDirfd: 0}
	openat2Call  = call{op: opOpen2, flagsArg: -1, oldDirfd: 0, newDirfd: 0}
	creatCall    = call{op: opCreat, flagsArg: -1, oldDirfd: -1, newDirfd: -1}
	renameCall   = call{op: opRename, flagsArg: -1, oldDirfd: -1, newDirfd: -1}
	renameatCall = call{op: opRename, flagsArg: -1, oldDirfd: 0, newDirfd: 2}
	linkCall     = call{op: opLink, flagsArg: -1, oldDirfd: -1, newDirfd: -1}
	linkatCall   = call{op: opLink, flagsArg: -1, oldDirfd: 0, newDirfd: 2}
	unlinkCall   = call{op: opUnlink, flagsArg: -1, oldDirfd: -1, newDirfd: -1}
	unlinkatCall = call{op: opUnlink, flagsArg: -1, oldDirfd: 0, newDirfd: 0}
	mkdirCall    = call{op: opMkdir, flagsArg: -1, oldDirfd: -1, newDirfd: -1}
	mkdiratCall  = call{op: opMkdir, flagsArg: -1, oldDirfd: 0, newDirfd: 0}
)

// syscalls per arch, numbers from each arch's unistd table.
var syscalls = map[uint64]map[int64]call{
	ArchX8664: {
		59: execCall, 322: execatCall,
		2: openCall, 257: openatCall, 437: openat2Call, 85: creatCall,
		82: renameCall, 264: renameatCall, 316: renameatCall,
		86: linkCall, 265: linkatCall,
		87: unlinkCall, 263: unlinkatCall,
		83: mkdirCall, 258: mkdiratCall,
	},
	ArchI386: {
		11: execCall, 358: execatCall,
		5: openCall, 295: openatCall, 437: openat2Call, 8: creatCall,
		38: renameCall, 302: renameatCall, 353: renameatCall,
		9: linkCall, 303: linkatCall,
		10: unlinkCall, 301: unlinkatCall,
		39: mkdirCall, 296: mkdiratCall,
	},
	// The generic table: no open, creat, rename, link or unlink.
	ArchAArch64: {
		221: execCall, 281: execatCall,
		56: openatCall, 437: openat2Call,
		38: renameatCall, 276: renameatCall,
		37: linkatCall,
		35: unlinkatCall,
		34: mkdiratCall,
	},
}

func lookupCall(arch uint64, nr int64) call {
	if c, ok := syscalls[arch][nr]; ok {
		return c
	}
	return call{op: opNone}
}

// Open flag bits, the same on x86_64, i386 and aarch64.
const (
	oAccMode = 0x3
	oCreat   = 0x40
	oTrunc   = 0x200
)

// atFDCWD is AT_FDCWD (-100) as the kernel prints it: a 32-bit int argument
// shown in hex, sign-extended or not depending on the arch.
func isATFDCWD(v uint64) bool { return uint32(v) == 0xffffff9c }
