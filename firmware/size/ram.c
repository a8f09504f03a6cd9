/* Compiled by `make size` only: the symbol sizes give the RAM of each core structure on the target. */
#include "furrow_update.h"

struct furrow_patch ram_patch_decoder;          /* decoder: 3 LZMA coders + buffers + state */
struct furrow_update ram_update_state_machine;  /* everything the core needs, decoder included */
struct furrow_persist ram_persisted_state;      /* the NVS blob */
