// The one system call newlib needs here: _sbrk for malloc, whose only user is newlib's own float
// formatting (HELLO's INFO reply). It hands out the .heap reservation of sections.ld and refuses
// past it, so the heap can never run into the stack.
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

extern "C" {
extern uint8_t __heap_start__[], __heap_end__[];

void* _sbrk(ptrdiff_t increment) {
  static uint8_t* brk = __heap_start__;
  if (increment > __heap_end__ - brk || increment < __heap_start__ - brk) {
    errno = ENOMEM;
    return reinterpret_cast<void*>(-1);
  }
  uint8_t* previous = brk;
  brk += increment;
  return previous;
}
}
