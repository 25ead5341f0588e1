# Configure-time link guard (docs/ssh_gateway.md "Processes"): walks the link closure of the
# programs that must stay small and unprivileged, and of the pure modules' unit tests, and refuses
# the configuration if one reaches a library it must never hold. tests/link_guard.sh checks the
# same rules on the built binaries (NEEDED entries and symbols), which CMake cannot fool.
# Included by the top CMakeLists.txt before any target is declared: it names the lists (which
# tests/link_guard.cmake also uses) and defers the check to the end of the configuration, when
# every target exists.

# Every worker executable (a new protocol's worker goes here): no store, no SQLCipher, no HTTP
# server, no broker, no directory.
set(SEKISHO_WORKER_EXECUTABLES sekisho-worker)
set(SEKISHO_WORKER_FORBIDDEN sekisho_storage PkgConfig::SQLCIPHER PkgConfig::HTTPLIB sekisho_broker
    sekisho_ldap PkgConfig::LDAP)
# The same libraries named as files, for a link by path or -l flag instead of by target.
set(SEKISHO_WORKER_FORBIDDEN_FILES "sqlcipher" "libldap" "ldap$" "lber" "httplib")
# The unit tests of pure modules: they prove the module works without the core.
set(SEKISHO_PURE_TESTS unit_base unit_approval unit_rotation unit_recorder unit_privsep unit_ssh
    unit_worker_ssh)
set(SEKISHO_PURE_FORBIDDEN sekisho_broker sekisho_storage)

# Strips generator expressions that only qualify a link item ($<LINK_ONLY:x>, $<$<CONFIG:y>:x>)
# down to the item; anything else is kept as written.
function(_sekisho_link_item item out)
  string(REGEX REPLACE "^\\$<LINK_ONLY:(.*)>$" "\\1" item "${item}")
  string(REGEX REPLACE "^\\$<\\$<[^>]*>:(.*)>$" "\\1" item "${item}")
  set(${out} "${item}" PARENT_SCOPE)
endfunction()

# Sets `out` to the targets and link items `target` reaches, each as "item<via-chain>" pairs in
# two lists: ${out} (items) and ${out}_VIA (the chain that reached it, "a -> b -> item").
function(_sekisho_link_closure target out)
  set(seen ${target})
  set(queue ${target})
  set(chain_${target} ${target})
  set(items)
  set(vias)
  while(queue)
    list(POP_FRONT queue current)
    set(deps)
    foreach(property LINK_LIBRARIES INTERFACE_LINK_LIBRARIES)
      get_target_property(value ${current} ${property})
      if(value)
        list(APPEND deps ${value})
      endif()
    endforeach()
    foreach(raw IN LISTS deps)
      _sekisho_link_item("${raw}" dep)
      if(TARGET "${dep}")
        get_target_property(aliased "${dep}" ALIASED_TARGET)
        if(aliased)
          set(dep ${aliased})
        endif()
      endif()
      if(dep IN_LIST seen OR dep STREQUAL "")
        continue()
      endif()
      list(APPEND seen "${dep}")
      set(chain_${dep} "${chain_${current}} -> ${dep}")
      list(APPEND items "${dep}")
      list(APPEND vias "${chain_${dep}}")
      if(TARGET "${dep}")
        list(APPEND queue "${dep}")
      endif()
    endforeach()
  endwhile()
  set(${out} "${items}" PARENT_SCOPE)
  set(${out}_VIA "${vias}" PARENT_SCOPE)
endfunction()

# FATAL_ERROR with one line if `target` reaches a target in `forbidden` or a non-target link item
# matching one of `file_patterns`; `rule` says why it must not.
function(_sekisho_refuse_links target forbidden file_patterns rule)
  _sekisho_link_closure(${target} reached)
  list(LENGTH reached count)
  if(count EQUAL 0)
    return()
  endif()
  math(EXPR last "${count} - 1")
  foreach(i RANGE ${last})
    list(GET reached ${i} item)
    list(GET reached_VIA ${i} via)
    set(bad FALSE)
    if(item IN_LIST forbidden)
      set(bad TRUE)
    elseif(NOT TARGET "${item}")
      foreach(pattern IN LISTS file_patterns)
        get_filename_component(leaf "${item}" NAME)
        if(leaf MATCHES "${pattern}")
          set(bad TRUE)
        endif()
      endforeach()
    endif()
    if(bad)
      message(FATAL_ERROR "Link guard: ${target} links ${item} (${via}): ${rule}")
    endif()
  endforeach()
endfunction()

# The check itself, run once every target exists.
function(_sekisho_link_guard)
  foreach(worker IN LISTS SEKISHO_WORKER_EXECUTABLES)
    if(NOT TARGET ${worker})
      message(FATAL_ERROR "Link guard: worker executable ${worker} is not a target "
                          "(renamed? update SEKISHO_WORKER_EXECUTABLES in cmake/link_guard.cmake)")
    endif()
    _sekisho_refuse_links(${worker} "${SEKISHO_WORKER_FORBIDDEN}"
      "${SEKISHO_WORKER_FORBIDDEN_FILES}"
      "a worker never links the store, SQLCipher, the HTTP server, the broker or the directory")
  endforeach()
  list(JOIN SEKISHO_WORKER_EXECUTABLES ", " workers)
  list(JOIN SEKISHO_WORKER_FORBIDDEN ", " worker_forbidden)
  set(summary "no link from ${workers} to ${worker_forbidden}")
  if(BUILD_TESTING)
    foreach(test IN LISTS SEKISHO_PURE_TESTS)
      if(NOT TARGET ${test})
        message(FATAL_ERROR "Link guard: unit test ${test} is not a target (renamed? update "
                            "SEKISHO_PURE_TESTS in cmake/link_guard.cmake)")
      endif()
      _sekisho_refuse_links(${test} "${SEKISHO_PURE_FORBIDDEN}" ""
        "the tests of a pure module link neither the broker nor the store")
    endforeach()
    list(JOIN SEKISHO_PURE_TESTS ", " pure_tests)
    list(JOIN SEKISHO_PURE_FORBIDDEN " or " pure_forbidden)
    string(APPEND summary "; none from ${pure_tests} to ${pure_forbidden}")
  endif()
  message(STATUS "Link guard: ${summary}")
endfunction()
cmake_language(DEFER DIRECTORY ${PROJECT_SOURCE_DIR} CALL _sekisho_link_guard)
