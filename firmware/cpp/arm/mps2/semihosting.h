// Arm semihosting (the "Semihosting for AArch32 and AArch64" specification), which QEMU serves
// when started with -semihosting-config enable=on,target=native: how the emulated board says why
// it cannot serve -- on QEMU's stderr, and by QEMU's exit status -- where a board on a desk can
// only print to its link. Without semihosting the BKPT is a fault, and the board stops there.
#pragma once

namespace mps2 {

// Writes "phyll-cpp cannot start: <problem>" to the host's stderr, then ends QEMU with status 1.
[[noreturn]] void stop_emulation(const char* problem);

}  // namespace mps2
