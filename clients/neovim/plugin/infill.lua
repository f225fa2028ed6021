-- :Infill toggle | status | log | models | pull NAME
if vim.g.loaded_infill then
  return
end
vim.g.loaded_infill = true

local subcommands = {
  toggle = function() require("infill").toggle() end,
  status = function() vim.notify(require("infill").status_line()) end,
  log = function() vim.cmd.tabnew(vim.lsp.get_log_path()) end,
  models = function() require("infill").catalog({ "models" }) end,
  pull = function(name)
    if not name then
      vim.notify("Infill: pull needs a model name (see :Infill models)", vim.log.levels.ERROR)
      return
    end
    require("infill").catalog({ "pull", name })
  end,
}

vim.api.nvim_create_user_command("Infill", function(args)
  local action = subcommands[args.fargs[1] or "status"]
  if not action then
    vim.notify("Infill: unknown subcommand '" .. args.fargs[1] .. "' (toggle, status, log, models, pull)",
      vim.log.levels.ERROR)
    return
  end
  action(args.fargs[2])
end, {
  nargs = "*",
  complete = function() return vim.tbl_keys(subcommands) end,
  desc = "Infill: toggle suggestions, show status, open the log, list or download models",
})
