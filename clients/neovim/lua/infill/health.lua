--- :checkhealth infill

local M = {}

function M.check()
  local health = vim.health
  health.start("infill")
  local infill = require("infill")
  if vim.fn.has("nvim-0.11") == 0 then
    health.error("Neovim 0.11 or later is needed")
    return
  end
  if not infill.options then
    health.error('setup() was not called: add require("infill").setup({}) to your config')
    return
  end
  local executable = infill.options.cmd[1]
  if vim.fn.executable(executable) == 1 then
    health.ok("server found: " .. vim.fn.exepath(executable))
  else
    health.error("server not found: " .. executable, { "pip install the infill package, or set cmd in setup()" })
  end
  health.info(infill.uses_builtin() and "ghost text: Neovim's vim.lsp.inline_completion"
    or "ghost text: the plugin's own renderer")
  local status, problem = infill.server_status()
  if not status then
    health.warn(problem .. " (open a file to start the server)")
    return
  end
  if status.loaded then
    health.ok(("model loaded: %s"):format(status.model or "?"))
    health.info(("mode: %s (%s)"):format(status.mode or "?", status.modeReason or ""))
  else
    health.error("no model loaded: " .. (status.error or "still loading"))
  end
  health.info(("%d files indexed%s"):format(status.indexedFiles or 0, status.indexing and ", indexing" or ""))
  if infill.last_message then
    health.warn("last message from the server: " .. infill.last_message)
  end
  if require("infill.ghost").last_error then
    health.warn("last request error: " .. require("infill.ghost").last_error)
  end
end

return M
