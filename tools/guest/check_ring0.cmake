# Scan the guest's ring-0 code (.text.kernel) for instructions this host's KVM cannot run in
# guest ring 0 (see shared docs/platform.md), and for branches leaving .text.kernel (ring-0 code
# must not call ring-3 helpers such as memset, which are not checked).
# Usage: cmake -DELF=... -DOBJDUMP=... -DSTAMP=... -P check_ring0.cmake

execute_process(COMMAND ${OBJDUMP} -h ${ELF} OUTPUT_VARIABLE headers RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "objdump -h ${ELF} failed")
endif()
# "  0 .text.kernel  00000286  0000000000100000  0000000000100000  00001000  2**4"
if(NOT headers MATCHES "\\.text\\.kernel +([0-9a-f]+) +([0-9a-f]+)")
    message(FATAL_ERROR "guest ELF has no .text.kernel section")
endif()
math(EXPR ksize "0x${CMAKE_MATCH_1}")
math(EXPR kstart "0x${CMAKE_MATCH_2}")
math(EXPR kend "${kstart} + ${ksize}")
if(ksize EQUAL 0)
    message(FATAL_ERROR "guest .text.kernel is empty")
endif()

execute_process(COMMAND ${OBJDUMP} -d --no-show-raw-insn -j .text.kernel ${ELF}
                OUTPUT_VARIABLE dis RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "objdump -d ${ELF} failed")
endif()

set(forbidden "int3|int[ \t]+\\$|xsave|xrstor|cmpxchg16b|sysret")
string(REGEX MATCHALL "[0-9a-f]+:\t[^\n]*(${forbidden})[^\n]*" bad "${dis}")
if(bad)
    string(REPLACE ";" "\n  " bad "${bad}")
    message(FATAL_ERROR "forbidden instruction(s) in guest ring-0 code (.text.kernel):\n  ${bad}")
endif()

string(REGEX MATCHALL "\t(call|j[a-z]+)q? +[0-9a-f]+ <[^\n]*" branches "${dis}")
foreach(br IN LISTS branches)
    string(REGEX MATCH "([0-9a-f]+) <" _ "${br}")
    math(EXPR target "0x${CMAKE_MATCH_1}")
    if(target LESS kstart OR NOT target LESS kend)
        message(FATAL_ERROR "guest ring-0 code branches out of .text.kernel:${br}")
    endif()
endforeach()

file(WRITE ${STAMP} "ok\n")
