/**
 * The jellycell-jupyter JupyterLab plugin: a checkpoint sidebar that follows the
 * file browser and the active document, with its commands and settings.
 */
import {
  ILabShell,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { PathExt } from '@jupyterlab/coreutils';
import { IDocumentManager } from '@jupyterlab/docmanager';
import { DocumentRegistry } from '@jupyterlab/docregistry';
import { IDefaultFileBrowser } from '@jupyterlab/filebrowser';
import { INotebookTracker } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import {
  ITranslator,
  nullTranslator,
  TranslationBundle
} from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import { askSave } from './dialogs';
import { checkpointIcon } from './icons';
import { CheckpointModel } from './model';
import { CheckpointPanel } from './panel';
import { CheckpointAPI } from './request';
import {
  CommandIDs,
  DEFAULT_SETTINGS,
  ISidebarSettings,
  PLUGIN_ID
} from './tokens';

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description:
    'A sidebar that creates, lists, restores and downloads checkpoints of jellycell projects.',
  autoStart: true,
  optional: [
    ILabShell,
    ILayoutRestorer,
    IDefaultFileBrowser,
    IDocumentManager,
    INotebookTracker,
    ICommandPalette,
    ISettingRegistry,
    ITranslator
  ],
  activate
};

function activate(
  app: JupyterFrontEnd,
  labShell: ILabShell | null,
  restorer: ILayoutRestorer | null,
  browser: IDefaultFileBrowser | null,
  docManager: IDocumentManager | null,
  notebooks: INotebookTracker | null,
  palette: ICommandPalette | null,
  settingRegistry: ISettingRegistry | null,
  translator: ITranslator | null
): void {
  const trans = (translator ?? nullTranslator).load('jellycell_jupyter');
  const settings: ISidebarSettings = { ...DEFAULT_SETTINGS };
  const contents = app.serviceManager.contents;

  const api = new CheckpointAPI(app.serviceManager.serverSettings, trans);
  const model = new CheckpointModel(api, {
    trans,
    progressInterval: settings.progressInterval
  });

  const panel = new CheckpointPanel({
    model,
    trans,
    beforeCreate: projectPath =>
      saveProjectFiles(app, docManager, projectPath, settings, trans),
    openFolder: async folder => {
      if (app.commands.hasCommand('filebrowser:go-to-path')) {
        await app.commands.execute('filebrowser:go-to-path', {
          path: '/' + folder
        });
      } else if (browser) {
        await browser.model.cd('/' + folder);
      }
    }
  });
  app.shell.add(panel, 'left', { rank: 650 });
  restorer?.add(panel, 'jellycell-checkpoints');

  const follow = (path: string): void => {
    void model.setFolder(contents.localPath(path));
  };
  if (browser) {
    browser.model.pathChanged.connect((_, change) =>
      follow(change.newValue ?? '')
    );
    follow(browser.model.path);
  } else {
    follow('');
  }
  const followDocument = (widget: Widget | null): void => {
    const context = widget && docManager?.contextForWidget(widget);
    if (context) {
      follow(PathExt.dirname(context.localPath));
    }
  };
  labShell?.currentChanged.connect((_, change) =>
    followDocument(change.newValue)
  );
  if (!labShell) {
    notebooks?.currentChanged.connect((_, widget) => followDocument(widget));
  }

  if (settingRegistry) {
    void settingRegistry
      .load(PLUGIN_ID)
      .then(loaded => {
        const apply = (): void => {
          Object.assign(
            settings,
            loaded.composite as Partial<ISidebarSettings>
          );
          model.progressInterval = settings.progressInterval;
        };
        loaded.changed.connect(apply);
        apply();
      })
      .catch(reason => {
        console.warn('jellycell-jupyter: could not load its settings', reason);
      });
  }

  addCommands(app, panel, trans);
  if (palette) {
    const category = trans.__('Jellycell');
    for (const command of [
      CommandIDs.createCheckpoint,
      CommandIDs.openPanel,
      CommandIDs.refresh
    ]) {
      palette.addItem({ command, category });
    }
  }
}

function addCommands(
  app: JupyterFrontEnd,
  panel: CheckpointPanel,
  trans: TranslationBundle
): void {
  const reveal = (): void => {
    app.shell.activateById(panel.id);
  };

  app.commands.addCommand(CommandIDs.openPanel, {
    label: trans.__('Show Checkpoints'),
    caption: trans.__('Show the checkpoints of the current jellycell project'),
    icon: checkpointIcon,
    execute: () => {
      reveal();
      panel.focusMessage();
    }
  });

  app.commands.addCommand(CommandIDs.createCheckpoint, {
    label: trans.__('Create Checkpoint'),
    caption: trans.__('Create a checkpoint of the current jellycell project'),
    icon: checkpointIcon,
    isEnabled: () =>
      panel.model.project !== null && panel.model.action === null,
    execute: async args => {
      reveal();
      const message =
        typeof args.message === 'string' ? args.message : undefined;
      await panel.create(message);
    }
  });

  app.commands.addCommand(CommandIDs.refresh, {
    label: trans.__('Refresh Checkpoints'),
    caption: trans.__(
      'Ask the server again for the checkpoints of the current project'
    ),
    execute: () => panel.model.refresh()
  });

  panel.model.changed.connect(() => {
    app.commands.notifyCommandChanged(CommandIDs.createCheckpoint);
  });
}

/**
 * Save the open, modified documents of a project, or ask first, as the
 * `saveBeforeCreate` setting says.
 *
 * @returns whether to go on creating the checkpoint
 */
async function saveProjectFiles(
  app: JupyterFrontEnd,
  docManager: IDocumentManager | null,
  projectPath: string,
  settings: ISidebarSettings,
  trans: TranslationBundle
): Promise<boolean> {
  if (!docManager || settings.saveBeforeCreate === 'never') {
    return true;
  }
  const prefix = projectPath ? projectPath + '/' : '';
  const dirty = new Map<string, DocumentRegistry.Context>();
  for (const widget of app.shell.widgets('main')) {
    const context = docManager.contextForWidget(widget);
    if (
      context &&
      context.model.dirty &&
      !context.model.readOnly &&
      context.localPath.startsWith(prefix)
    ) {
      dirty.set(context.localPath, context);
    }
  }
  if (dirty.size === 0) {
    return true;
  }

  if (settings.saveBeforeCreate === 'ask') {
    const choice = await askSave([...dirty.keys()], trans);
    if (choice !== 'save') {
      return choice === 'skip';
    }
  }
  await Promise.all([...dirty.values()].map(context => context.save()));
  return true;
}

export default plugin;
