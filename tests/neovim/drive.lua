-- Drives the Infill plugin in a real, headless Neovim (run with -S, see tests/test_neovim.py).
-- Env: INFILL_RTP, INFILL_CMD (JSON list), INFILL_FILE, INFILL_LINE (1-based), INFILL_BUILTIN,
-- INFILL_SCENARIO ("accept", "stale", "warm" or "pull": INFILL_PULL names the model), INFILL_LOG (the server's log file), INFILL_STREAMING, INFILL_OUT (JSON results are written there).
local env = vim.env
vim.cmd("filetype on")
vim.opt.rtp:prepend(env.INFILL_RTP)
vim.cmd.runtime("plugin/infill.lua")
local infill = require("infill")
local ghost = require("infill.ghost")
local out, finish = dofile(vim.fs.dirname(debug.getinfo(1, "S").source:sub(2)) .. "/results.lua")

local options = { cmd = vim.json.decode(env.INFILL_CMD), builtin = env.INFILL_BUILTIN == "1", debounce_ms = 20,
  filetypes = { "python" }, streaming = env.INFILL_STREAMING == "1" }
local ok, err = pcall(infill.setup, options)
if not ok then
  finish("setup: " .. tostring(err))
  return
end
out.bad_option = select(2, pcall(infill.setup, { debounce_ms = -1 }))
infill.setup(options) -- again: setup is idempotent
vim.cmd.edit(env.INFILL_FILE)
local buf = vim.api.nvim_get_current_buf()
local attached = vim.wait(60000, function()
  local client = infill.client()
  return client ~= nil and client.initialized and #vim.lsp.get_clients({ bufnr = buf, name = "infill" }) == 1
end, 50)
if not attached then
  finish("the server never attached")
  return
end
out.builtin = infill.uses_builtin()
out.clients = #vim.lsp.get_clients({ name = "infill" })
if env.INFILL_SCENARIO == "pull" then
  -- :Infill pull then :Infill models, as typed; their results arrive as notifications.
  local messages = {}
  vim.notify = function(message) messages[#messages + 1] = message end
  vim.cmd("Infill pull " .. env.INFILL_PULL)
  vim.wait(120000, function() return #messages >= 2 end, 50)
  vim.cmd("Infill models")
  vim.wait(60000, function() return #messages >= 4 end, 50)
  out.messages = messages
  finish()
  return
end
local line = tonumber(env.INFILL_LINE)
local namespace = out.builtin and vim.api.nvim_create_namespace("nvim.lsp.inline_completion") or ghost.namespace

local function ghost_text()
  local marks = vim.api.nvim_buf_get_extmarks(buf, namespace, 0, -1, { details = true })
  if #marks == 0 then
    return nil
  end
  local details = marks[1][4]
  local parts = {}
  for _, chunk in ipairs(details.virt_text or {}) do
    parts[#parts + 1] = chunk[1]
  end
  return table.concat(parts), details.virt_text_pos
end

vim.api.nvim_win_set_cursor(0, { line, #vim.fn.getline(line) })
if env.INFILL_SCENARIO == "warm" then
  -- The cursor rests in normal mode: the plugin asks the server to warm the prompt there.
  vim.api.nvim_exec_autocmds("CursorHold", { buffer = buf })
  local warmed = vim.wait(120000, function()
    local file = io.open(env.INFILL_LOG, "r")
    local text = file and file:read("*a") or ""
    if file then
      file:close()
    end
    return text:find("warm uri=", 1, true) ~= nil
  end, 200)
  finish(not warmed and "the server logged no warm-up" or nil)
  return
end
vim.cmd("startinsert!")
local started = vim.uv.now()
local step = "wait_ghost"
local timer = vim.uv.new_timer()
timer:start(100, 50, vim.schedule_wrap(function()
  if step == "done" or step == "checking" then
    return
  end
  if vim.uv.now() - started > 120000 then
    local waited_for = step
    step = "done"
    timer:stop()
    finish("timed out at step " .. waited_for)
    return
  end
  if step == "wait_ghost" then
    local text, position = ghost_text()
    if text and text ~= "" then
      step = "checking" -- status_line waits on the server, and the timer fires again meanwhile
      out.ghost, out.position = text, position
      out.line_before_accept = vim.fn.getline(line)
      out.status = infill.status_line()
      if env.INFILL_SCENARIO == "stale" then
        step = "stale"
      else
        out.ghost = ghost_text() -- a streamed suggestion may have grown meanwhile
        out.accepted = infill.accept()
        step = "done"
        timer:stop()
        vim.defer_fn(function() -- Neovim's own client inserts on the next loop iteration
          out.line_after_accept = vim.fn.getline(line)
          -- The acceptance reached the server: its counts say so.
          local status = infill.server_status()
          out.acceptance = status and status.acceptance
          finish(nil)
        end, 200)
      end
    end
  elseif step == "stale" then
    -- Type two characters that do not match the suggestion, the second before the first's answer.
    vim.api.nvim_feedkeys("#", "tn", false)
    vim.defer_fn(function()
      out.pending_after_first_key = ghost.pending(buf)
      vim.api.nvim_feedkeys("~", "tn", false)
    end, 40)
    vim.defer_fn(function()
      out.line_after_typing = vim.fn.getline(line)
      out.ghost_after_typing = ghost_text()
      finish(nil)
    end, 3000)
    step = "done"
    timer:stop()
  end
end))
