-- warden.lib.glob: the glob dialect of JSON policies (src/glob.h), matched by
-- the same C code: "*" any run of characters except "/", "**" any run
-- including "/", "?" one character except "/", "[a-z]" and "[!x]" one
-- character of (not of) a class, never "/", "\x" the character x; everything
-- else itself. The whole string must match. The C matcher's work is charged
-- to the instruction budget before it runs.
local native = ...
local c_match = native.glob_match
local type, error, ipairs = type, error, ipairs

local glob = {}

-- match(g, s): true when the whole of s matches the glob g.
function glob.match(g, s)
  if type(g) ~= "string" or type(s) ~= "string" then
    error("glob.match(glob, string) expects two strings", 2)
  end
  return c_match(g, s)
end

-- any(globs, s): true when s matches one of the globs of an array.
function glob.any(globs, s)
  for _, g in ipairs(globs) do
    if glob.match(g, s) then
      return true
    end
  end
  return false
end

return glob
