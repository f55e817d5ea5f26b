/** Read-only commands for node facts (one small command each, so one failing is not fatal). */
export const hostnameCmd = (): string[] => ['hostname'];
export const kernelCmd = (): string[] => ['uname', '-r'];
export const nprocCmd = (): string[] => ['nproc'];
export const meminfoCmd = (): string[] => ['cat', '/proc/meminfo'];
export const bootIdCmd = (): string[] => ['cat', '/proc/sys/kernel/random/boot_id'];
