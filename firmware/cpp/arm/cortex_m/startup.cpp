// Reset: copy .data from flash, zero .bss, run the static constructors, run the board. The
// linker script (sections.ld) names the symbols.
#include "startup.h"

#include <stddef.h>
#include <string.h>

#include "cortex_m.h"

extern "C" {
extern uint32_t __data_load__[], __data_start__[], __data_end__[], __bss_start__[], __bss_end__[];
extern ExceptionHandler __init_array_start[], __init_array_end[];

void reset_handler() {
  memcpy(__data_start__, __data_load__, static_cast<size_t>(__data_end__ - __data_start__) * sizeof(uint32_t));
  memset(__bss_start__, 0, static_cast<size_t>(__bss_end__ - __bss_start__) * sizeof(uint32_t));
  for (ExceptionHandler* init = __init_array_start; init < __init_array_end; ++init) (*init)();
  board_main();
}

void unexpected_exception() {
  cortex_m::mask_interrupts();
  for (;;) cortex_m::wait_for_interrupt();
}
}
