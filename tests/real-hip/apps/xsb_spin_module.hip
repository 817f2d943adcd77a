// Device-only code object for hipModuleLoad (hipcc --genco): the module the host program loads.
#include "xsb_spin_kernel.h"
