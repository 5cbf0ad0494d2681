kmalloc_lkm.o: kmalloc_lkm.rs proc.rs /root/.cache/memory-workloads/kernel/7.2.13-1-ee19255e/build/rust/libcore.rmeta /root/.cache/memory-workloads/kernel/7.2.13-1-ee19255e/build/rust/libcompiler_builtins.rmeta /root/.cache/memory-workloads/kernel/7.2.13-1-ee19255e/build/rust/libkernel.rmeta /root/.cache/memory-workloads/kernel/7.2.13-1-ee19255e/build/rust/libffi.rmeta /root/.cache/memory-workloads/kernel/7.2.13-1-ee19255e/build/rust/libpin_init.rmeta /root/.cache/memory-workloads/kernel/7.2.13-1-ee19255e/build/rust/libpin_init_internal.so /root/.cache/memory-workloads/kernel/7.2.13-1-ee19255e/build/rust/libmacros.so /root/.cache/memory-workloads/kernel/7.2.13-1-ee19255e/build/rust/libbuild_error.rmeta /root/.cache/memory-workloads/kernel/7.2.13-1-ee19255e/build/rust/libbindings.rmeta /root/.cache/memory-workloads/kernel/7.2.13-1-ee19255e/build/rust/libzerocopy.rmeta /root/.cache/memory-workloads/kernel/7.2.13-1-ee19255e/build/rust/libzerocopy_derive.so /root/.cache/memory-workloads/kernel/7.2.13-1-ee19255e/build/rust/libuapi.rmeta

./.kmalloc_lkm.o.d: kmalloc_lkm.rs proc.rs /root/.cache/memory-workloads/kernel/7.2.13-1-ee19255e/build/rust/libcore.rmeta /root/.cache/memory-workloads/kernel/7.2.13-1-ee19255e/build/rust/libcompiler_builtins.rmeta /root/.cache/memory-workloads/kernel/7.2.13-1-ee19255e/build/rust/libkernel.rmeta /root/.cache/memory-workloads/kernel/7.2.13-1-ee19255e/build/rust/libffi.rmeta /root/.cache/memory-workloads/kernel/7.2.13-1-ee19255e/build/rust/libpin_init.rmeta /root/.cache/memory-workloads/kernel/7.2.13-1-ee19255e/build/rust/libpin_init_internal.so /root/.cache/memory-workloads/kernel/7.2.13-1-ee19255e/build/rust/libmacros.so /root/.cache/memory-workloads/kernel/7.2.13-1-ee19255e/build/rust/libbuild_error.rmeta /root/.cache/memory-workloads/kernel/7.2.13-1-ee19255e/build/rust/libbindings.rmeta /root/.cache/memory-workloads/kernel/7.2.13-1-ee19255e/build/rust/libzerocopy.rmeta /root/.cache/memory-workloads/kernel/7.2.13-1-ee19255e/build/rust/libzerocopy_derive.so /root/.cache/memory-workloads/kernel/7.2.13-1-ee19255e/build/rust/libuapi.rmeta

kmalloc_lkm.rs:
proc.rs:
/root/.cache/memory-workloads/kernel/7.2.13-1-ee19255e/build/rust/libcore.rmeta:
/root/.cache/memory-workloads/kernel/7.2.13-1-ee19255e/build/rust/libcompiler_builtins.rmeta:
/root/.cache/memory-workloads/kernel/7.2.13-1-ee19255e/build/rust/libkernel.rmeta:
/root/.cache/memory-workloads/kernel/7.2.13-1-ee19255e/build/rust/libffi.rmeta:
/root/.cache/memory-workloads/kernel/7.2.13-1-ee19255e/build/rust/libpin_init.rmeta:
/root/.cache/memory-workloads/kernel/7.2.13-1-ee19255e/build/rust/libpin_init_internal.so:
/root/.cache/memory-workloads/kernel/7.2.13-1-ee19255e/build/rust/libmacros.so:
/root/.cache/memory-workloads/kernel/7.2.13-1-ee19255e/build/rust/libbuild_error.rmeta:
/root/.cache/memory-workloads/kernel/7.2.13-1-ee19255e/build/rust/libbindings.rmeta:
/root/.cache/memory-workloads/kernel/7.2.13-1-ee19255e/build/rust/libzerocopy.rmeta:
/root/.cache/memory-workloads/kernel/7.2.13-1-ee19255e/build/rust/libzerocopy_derive.so:
/root/.cache/memory-workloads/kernel/7.2.13-1-ee19255e/build/rust/libuapi.rmeta:
