/* Entry of a static Linux rv32 executable (what qemu-riscv32 loads): the kernel (or qemu) leaves
 * argc, argv, envp and the auxiliary vector on the stack; rv32_start takes them from there. */
    .section .text._start, "ax"
    .globl _start
_start:
    .option push
    .option norelax
    la gp, __global_pointer$ /* the linker relaxes small-data accesses to gp-relative ones */
    .option pop
    mv a0, sp
    andi sp, sp, -16
    call rv32_start
1:  j 1b
