namespace Fusion.Workflow.Pipelines;

/// <summary>
/// The topological walk of the project's DAGs (a pipeline's nodes, a distributed run's DAG): each node after the nodes
/// it depends on, otherwise in the given order (depth first, dependencies in the order they are listed).
/// </summary>
public static class DagOrder
{
    /// <summary>
    /// The nodes upstream first, or (Cycle set) a cycle: its node ids along the edges, the first one repeated at the end.
    /// Every dependency must be one of <paramref name="nodes"/>.
    /// </summary>
    public static (IReadOnlyList<T> Order, IReadOnlyList<string>? Cycle) Sort<T>(IReadOnlyList<T> nodes, Func<T, string> id, Func<T, IEnumerable<string>> dependsOn)
    {
        var byId = nodes.ToDictionary(id, StringComparer.Ordinal);
        var state = new Dictionary<string, int>(StringComparer.Ordinal); // 1 = on the path, 2 = done
        var order = new List<T>();
        var path = new List<string>();
        List<string>? cycle = null;
        void Visit(T n)
        {
            var key = id(n);
            if (cycle is not null || state.GetValueOrDefault(key) == 2) return;
            if (state.GetValueOrDefault(key) == 1)
            {
                cycle = path.Skip(path.IndexOf(key)).Append(key).ToList();
                return;
            }
            state[key] = 1;
            path.Add(key);
            foreach (var up in dependsOn(n)) Visit(byId[up]);
            path.RemoveAt(path.Count - 1);
            state[key] = 2;
            order.Add(n);
        }
        foreach (var n in nodes) Visit(n);
        return (order, cycle);
    }
}
