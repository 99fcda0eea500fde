// What every board's vector table points at: reset (set up C++ and run the board), and the
// handler of exceptions the firmware does not expect (faults, stray interrupts).
#pragma once

#include <stdint.h>

extern "C" {
using ExceptionHandler = void (*)();

[[noreturn]] void reset_handler();
// Stops: the host sees a silent device and its link reports it. It sleeps, so an emulator
// running a stopped firmware burns no CPU.
[[noreturn]] void unexpected_exception();

extern uint32_t __stack_top__;  // from the linker script: the initial stack pointer
}

// The board's program, run after reset; it serves for ever.
[[noreturn]] void board_main();

// The first 16 words of a Cortex-M vector table, then `External` interrupt handlers.
template <unsigned External>
struct VectorTable {
  const uint32_t* initial_stack;
  ExceptionHandler reset;
  ExceptionHandler system[14];  // NMI .. SysTick (entries 2..15)
  ExceptionHandler external[External];
};
