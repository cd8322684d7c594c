/**
 * The sidebar's model against a scripted API: what it shows, and what it says.
 */
import { CheckpointModel, defaultRestoreFolder, formatBytes } from '../model';
import { APIError, ICheckpointAPI } from '../request';
import {
  ICheckpointListEntry,
  ICheckpointListReport,
  IOperationsReply,
  IProjectsReply
} from '../tokens';

const demo = {
  name: 'demo',
  path: 'work/demo',
  checkpoints_path: 'work/demo/.jellycell/checkpoints'
};

function entry(
  name: string,
  message: string | null = null
): ICheckpointListEntry {
  return {
    name,
    path: `work/demo/.jellycell/checkpoints/${name}.tar.gz`,
    created_at: '2024-05-01T10:00:00+00:00',
    message,
    size_bytes: 2048
  };
}

class FakeAPI implements ICheckpointAPI {
  projectsReply: Record<string, IProjectsReply> = {};
  listed: ICheckpointListEntry[] = [];
  calls: string[] = [];
  failNext: Error | null = null;
  versionError: Error | null = null;
  operation: IOperationsReply['operation'] = null;
  createGate: Promise<void> = Promise.resolve();

  async checkVersion(): Promise<void> {
    this.calls.push('version');
    if (this.versionError) {
      throw this.versionError;
    }
  }
  async projects(path: string): Promise<IProjectsReply> {
    this.calls.push(`projects ${path}`);
    return (
      this.projectsReply[path] ?? {
        schema_version: 1,
        path,
        project: null,
        projects: []
      }
    );
  }
  async list(project: string): Promise<ICheckpointListReport> {
    this.calls.push(`list ${project}`);
    return { schema_version: 1, project, checkpoints: [...this.listed] };
  }
  async create(request: { project: string; message?: string | null }) {
    this.calls.push(`create ${request.project} ${request.message}`);
    await this.createGate;
    this._maybeFail();
    this.listed.unshift(entry('new', request.message ?? null));
    return {
      schema_version: 1,
      project: request.project,
      path: `${request.project}/.jellycell/checkpoints/new.tar.gz`,
      files: 3,
      size_bytes: 4096,
      message: request.message ?? null,
      name: 'new'
    };
  }
  async restore(
    name: string,
    request: { project: string; into?: string | null; force?: boolean }
  ) {
    this.calls.push(`restore ${name} ${request.into} ${request.force}`);
    this._maybeFail();
    return {
      schema_version: 1,
      project: request.project,
      source: `x/${name}.tar.gz`,
      target: request.into ?? `work/demo-restored-${name}`
    };
  }
  async verify(name: string, project: string) {
    this.calls.push(`verify ${name}`);
    this._maybeFail();
    return {
      schema_version: 1,
      project,
      name,
      path: '',
      ok: name !== 'bad',
      files: 3,
      problems: ['data/x: digest differs']
    };
  }
  async remove(name: string): Promise<void> {
    this.calls.push(`delete ${name}`);
    this._maybeFail();
    this.listed = this.listed.filter(e => e.name !== name);
  }
  async operations(project: string): Promise<IOperationsReply> {
    this.calls.push('operations');
    return { schema_version: 1, project, operation: this.operation };
  }
  archiveUrl(name: string, project: string): string {
    return `/archive/${project}/${name}`;
  }
  private _maybeFail(): void {
    const error = this.failNext;
    this.failNext = null;
    if (error) {
      throw error;
    }
  }
}

function inProject(api: FakeAPI): void {
  api.projectsReply['work/demo/notebooks'] = {
    schema_version: 1,
    path: 'work/demo/notebooks',
    project: demo,
    projects: []
  };
}

describe('CheckpointModel', () => {
  it('shows the project holding the folder and its checkpoints', async () => {
    const api = new FakeAPI();
    inProject(api);
    api.listed = [entry('b'), entry('a')];
    const model = new CheckpointModel(api);
    await model.setFolder('/work/demo/notebooks/');
    expect(model.state).toBe('project');
    expect(model.project).toEqual(demo);
    expect(model.inProject).toBe(true);
    expect(model.checkpoints.map(c => c.name)).toEqual(['b', 'a']);
    expect(api.calls).toEqual([
      'version',
      'projects work/demo/notebooks',
      'list work/demo'
    ]);
  });

  it('says so outside any project', async () => {
    const api = new FakeAPI();
    const model = new CheckpointModel(api);
    await model.setFolder('elsewhere');
    expect(model.state).toBe('no-project');
    expect(model.project).toBeNull();
    expect(model.checkpoints).toEqual([]);
  });

  it('lets the user pick one of the projects below a monorepo folder', async () => {
    const api = new FakeAPI();
    const other = { name: 'other', path: 'work/other', checkpoints_path: '' };
    api.projectsReply['work'] = {
      schema_version: 1,
      path: 'work',
      project: null,
      projects: [demo, other]
    };
    const model = new CheckpointModel(api);
    await model.setFolder('work');
    expect(model.state).toBe('no-project');
    expect(model.below.map(p => p.name)).toEqual(['demo', 'other']);

    await model.pick('work/other');
    expect(model.state).toBe('project');
    expect(model.project?.name).toBe('other');
    expect(model.inProject).toBe(false);
    expect(api.calls).toContain('list work/other');
  });

  it('becomes unavailable, with the message, when the server extension is missing', async () => {
    const api = new FakeAPI();
    api.versionError = new APIError(
      'missing',
      'not installed or not enabled',
      404
    );
    const model = new CheckpointModel(api);
    await model.setFolder('work/demo/notebooks');
    expect(model.state).toBe('unavailable');
    expect(model.unavailable).toBe('not installed or not enabled');
    expect(api.calls).toEqual(['version']);
  });

  it('checks the version once, then again after it failed', async () => {
    const api = new FakeAPI();
    inProject(api);
    const model = new CheckpointModel(api);
    await model.setFolder('work/demo/notebooks');
    await model.refresh();
    expect(api.calls.filter(c => c === 'version')).toHaveLength(1);
  });

  it('creates with the trimmed message, says what it made and refreshes', async () => {
    const api = new FakeAPI();
    inProject(api);
    const model = new CheckpointModel(api);
    await model.setFolder('work/demo/notebooks');

    const report = await model.create('  before refactor ');
    expect(report?.name).toBe('new');
    expect(api.calls).toContain('create work/demo before refactor');
    expect(model.notice).toBe('Created checkpoint new (3 files, 4.00 KiB).');
    expect(model.error).toBeNull();
    expect(model.checkpoints[0].message).toBe('before refactor');
    expect(model.action).toBeNull();
  });

  it('sends no message for a blank one', async () => {
    const api = new FakeAPI();
    inProject(api);
    const model = new CheckpointModel(api);
    await model.setFolder('work/demo/notebooks');
    await model.create('   ');
    expect(api.calls).toContain('create work/demo null');
  });

  it("keeps the server's message when an action fails, and refreshes anyway", async () => {
    const api = new FakeAPI();
    inProject(api);
    const model = new CheckpointModel(api);
    await model.setFolder('work/demo/notebooks');
    api.failNext = new APIError(
      'server',
      "the restore folder 'x' is not empty; pass force",
      409
    );

    const report = await model.restore('a', { into: 'x' });
    expect(report).toBeUndefined();
    expect(model.error).toBe("the restore folder 'x' is not empty; pass force");
    expect(model.notice).toBeNull();
    expect(api.calls[api.calls.length - 1]).toBe('list work/demo');
  });

  it('restores into the default folder unless told otherwise', async () => {
    const api = new FakeAPI();
    inProject(api);
    const model = new CheckpointModel(api);
    await model.setFolder('work/demo/notebooks');
    const report = await model.restore('a');
    expect(api.calls).toContain('restore a null false');
    expect(report?.target).toBe('work/demo-restored-a');
    expect(model.notice).toBe(
      'Restored checkpoint a into work/demo-restored-a.'
    );

    await model.restore('a', { into: 'keep', force: true });
    expect(api.calls).toContain('restore a keep true');
  });

  it('reports a damaged archive found by verify as an error', async () => {
    const api = new FakeAPI();
    inProject(api);
    const model = new CheckpointModel(api);
    await model.setFolder('work/demo/notebooks');
    await model.verify('bad');
    expect(model.error).toBe(
      'Checkpoint bad failed verification: data/x: digest differs'
    );
    await model.verify('good');
    expect(model.error).toBeNull();
    expect(model.notice).toBe('Checkpoint good is intact (3 files checked).');
  });

  it('deletes and lists again', async () => {
    const api = new FakeAPI();
    inProject(api);
    api.listed = [entry('a')];
    const model = new CheckpointModel(api);
    await model.setFolder('work/demo/notebooks');
    expect(await model.remove('a')).toBe(true);
    expect(model.checkpoints).toEqual([]);
    expect(model.notice).toBe('Deleted checkpoint a.');
  });

  it('shows the progress the server reports while creating, then forgets it', async () => {
    const api = new FakeAPI();
    inProject(api);
    let release: () => void = () => undefined;
    api.createGate = new Promise<void>(resolve => (release = resolve));
    api.operation = {
      kind: 'create',
      name: null,
      started_at: '2024-05-01T10:00:00+00:00',
      seconds: 0.5,
      phase: 'archive',
      files_done: 2,
      files_total: 4,
      bytes_done: 512,
      bytes_total: 1024,
      fraction: 0.5
    };
    const model = new CheckpointModel(api, { progressInterval: 5 });
    await model.setFolder('work/demo/notebooks');

    const seen: (number | undefined)[] = [];
    model.changed.connect(() => seen.push(model.progress?.files_done));
    const creating = model.create('m');
    expect(model.action).toBe('create');
    while (!seen.includes(2)) {
      await new Promise(resolve => setTimeout(resolve, 5));
    }
    release();
    await creating;
    expect(model.progress).toBeNull();
    expect(model.action).toBeNull();
  });

  it('refuses a second action while one runs', async () => {
    const api = new FakeAPI();
    inProject(api);
    let release: () => void = () => undefined;
    api.createGate = new Promise<void>(resolve => (release = resolve));
    const model = new CheckpointModel(api);
    await model.setFolder('work/demo/notebooks');
    const first = model.create('one');
    expect(await model.remove('a')).toBe(false);
    release();
    await first;
    expect(api.calls.filter(c => c.startsWith('delete'))).toEqual([]);
  });

  it('ignores the answer to a folder the user has already left', async () => {
    const api = new FakeAPI();
    inProject(api);
    const model = new CheckpointModel(api);
    const slow = model.setFolder('work/demo/notebooks');
    const fast = model.setFolder('elsewhere');
    await Promise.all([slow, fast]);
    expect(model.folder).toBe('elsewhere');
    expect(model.state).toBe('no-project');
  });
});

describe('helpers', () => {
  it('names the default restore folder beside the project', () => {
    expect(defaultRestoreFolder('work/demo', 'n1')).toBe(
      'work/demo-restored-n1'
    );
    expect(defaultRestoreFolder('demo', 'n1')).toBe('demo-restored-n1');
  });

  it('formats sizes in powers of 1024', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1536)).toBe('1.50 KiB');
    expect(formatBytes(20 * 1024 * 1024)).toBe('20.0 MiB');
    expect(formatBytes(300 * 1024 * 1024 * 1024)).toBe('300 GiB');
    expect(formatBytes(10235)).toBe('10.0 KiB');
    expect(formatBytes(102399)).toBe('100 KiB');
    expect(formatBytes(1048575)).toBe('1.00 MiB');
    expect(formatBytes(3 * 1024 ** 5)).toBe('3.00 PiB');
  });
});
