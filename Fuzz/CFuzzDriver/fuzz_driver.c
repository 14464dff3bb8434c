// The driver itself comes from libFuzzer; this target only carries its declaration.
#include "fuzz_driver.h"
