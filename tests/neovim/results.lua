-- The results of a test driver: `local out, finish = dofile(".../results.lua")`. Fill `out`,
-- then `finish()` writes it as JSON to $INFILL_OUT and quits (`finish(reason)` fails with it).
local out = {}

local function finish(failure)
  out.failure = failure
  local file = assert(io.open(vim.env.INFILL_OUT, "w"))
  file:write(vim.json.encode(out))
  file:close()
  vim.cmd(failure and "cquit 1" or "qall!")
end

return out, finish
