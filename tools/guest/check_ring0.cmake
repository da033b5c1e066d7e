# Scan the guest's ring-0 code for instructions this host's KVM cannot run in guest ring 0 (see
# shared docs/platform.md), and for branches leaving ring-0 code (ring-0 code must not call
# ring-3 helpers such as memset, which are not checked). Ring-0 code is .text.kernel (64-bit) and
# .text.kernel32 (the 32-bit PVH entry, disassembled as i386 code).
# Usage: cmake -DELF=... -DOBJDUMP=... -DSTAMP=... -P check_ring0.cmake

execute_process(COMMAND ${OBJDUMP} -h ${ELF} OUTPUT_VARIABLE headers RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "objdump -h ${ELF} failed")
endif()

# section_range(NAME PREFIX): sets PREFIX_start/PREFIX_end, or PREFIX_found to FALSE.
# "  0 .text.kernel  00000286  0000000000100000  0000000000100000  00001000  2**4"
function(section_range name prefix)
    string(REPLACE "." "\\." re "${name}")
    if(NOT headers MATCHES "${re} +([0-9a-f]+) +([0-9a-f]+)")
        set(${prefix}_found FALSE PARENT_SCOPE)
        return()
    endif()
    math(EXPR size "0x${CMAKE_MATCH_1}")
    math(EXPR start "0x${CMAKE_MATCH_2}")
    math(EXPR end "${start} + ${size}")
    set(${prefix}_found TRUE PARENT_SCOPE)
    set(${prefix}_size ${size} PARENT_SCOPE)
    set(${prefix}_start ${start} PARENT_SCOPE)
    set(${prefix}_end ${end} PARENT_SCOPE)
endfunction()

section_range(.text.kernel k64)
if(NOT k64_found)
    message(FATAL_ERROR "guest ELF has no .text.kernel section")
endif()
if(k64_size EQUAL 0)
    message(FATAL_ERROR "guest .text.kernel is empty")
endif()
section_range(.text.kernel32 k32)

set(forbidden "int3|int[ \t]+\\$|xsave|xrstor|cmpxchg16b|sysret")

# scan(SECTION MODE): forbidden instructions; appends its direct branches to all_branches.
set(all_branches "")
function(scan section mode)
    execute_process(COMMAND ${OBJDUMP} -d --no-show-raw-insn -M ${mode} -j ${section} ${ELF}
                    OUTPUT_VARIABLE dis RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "objdump -d -j ${section} ${ELF} failed")
    endif()
    string(REGEX MATCHALL "[0-9a-f]+:\t[^\n]*(${forbidden})[^\n]*" bad "${dis}")
    if(bad)
        string(REPLACE ";" "\n  " bad "${bad}")
        message(FATAL_ERROR "forbidden instruction(s) in guest ring-0 code (${section}):\n  ${bad}")
    endif()
    if(dis MATCHES "\\(bad\\)")
        message(FATAL_ERROR "guest ring-0 code (${section}) does not disassemble cleanly as ${mode}")
    endif()
    string(REGEX MATCHALL "\t(call|j[a-z]+)[lqw]? +[0-9a-f]+ <[^\n]*" branches "${dis}")
    set(all_branches ${all_branches} ${branches} PARENT_SCOPE)
endfunction()

scan(.text.kernel x86-64)
if(k32_found AND k32_size GREATER 0)
    scan(.text.kernel32 i386)
endif()

# Every direct branch must land in ring-0 code (either section).
foreach(br IN LISTS all_branches)
    string(REGEX MATCH "([0-9a-f]+) <" _ "${br}")
    math(EXPR target "0x${CMAKE_MATCH_1}")
    set(ok FALSE)
    if(NOT target LESS k64_start AND target LESS k64_end)
        set(ok TRUE)
    endif()
    if(k32_found AND NOT target LESS k32_start AND target LESS k32_end)
        set(ok TRUE)
    endif()
    if(NOT ok)
        message(FATAL_ERROR "guest ring-0 code branches out of .text.kernel/.text.kernel32:${br}")
    endif()
endforeach()

file(WRITE ${STAMP} "ok\n")
